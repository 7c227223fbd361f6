#include "fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

extern "C" void kn_emu_switch(void** save, void* load);
extern "C" void kn_emu_trampoline();

#if defined(__x86_64__)
// Pushes rbp, rbx, r12-r15, saves rsp, loads the other rsp and pops the same. A new context starts
// in the trampoline with the entry in rbx and its argument in r12.
asm(R"(
.text
.globl kn_emu_switch
.type kn_emu_switch,@function
kn_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
.size kn_emu_switch,.-kn_emu_switch
.globl kn_emu_trampoline
.type kn_emu_trampoline,@function
kn_emu_trampoline:
  movq %r12, %rdi
  callq *%rbx
  ud2
.size kn_emu_trampoline,.-kn_emu_trampoline
.section .note.GNU-stack,"",@progbits
.text
)");
constexpr int kSavedWords = 6;
#elif defined(__aarch64__)
// Saves x19-x30 and d8-d15 below sp. A new context starts in the trampoline (x30) with the entry
// in x19 and its argument in x20.
asm(R"(
.text
.globl kn_emu_switch
.type kn_emu_switch,%function
kn_emu_switch:
  sub sp, sp, #160
  stp x19, x20, [sp, #0]
  stp x21, x22, [sp, #16]
  stp x23, x24, [sp, #32]
  stp x25, x26, [sp, #48]
  stp x27, x28, [sp, #64]
  stp x29, x30, [sp, #80]
  stp d8, d9, [sp, #96]
  stp d10, d11, [sp, #112]
  stp d12, d13, [sp, #128]
  stp d14, d15, [sp, #144]
  mov x9, sp
  str x9, [x0]
  mov sp, x1
  ldp x19, x20, [sp, #0]
  ldp x21, x22, [sp, #16]
  ldp x23, x24, [sp, #32]
  ldp x25, x26, [sp, #48]
  ldp x27, x28, [sp, #64]
  ldp x29, x30, [sp, #80]
  ldp d8, d9, [sp, #96]
  ldp d10, d11, [sp, #112]
  ldp d12, d13, [sp, #128]
  ldp d14, d15, [sp, #144]
  add sp, sp, #160
  ret
.size kn_emu_switch,.-kn_emu_switch
.globl kn_emu_trampoline
.type kn_emu_trampoline,%function
kn_emu_trampoline:
  mov x0, x20
  blr x19
  brk #0
.size kn_emu_trampoline,.-kn_emu_trampoline
.section .note.GNU-stack,"",%progbits
.text
)");
#else
#error "the SIMT emulator's context switch is written for x86-64 and AArch64"
#endif

namespace kn_emu {

namespace {

constexpr size_t kCanaryWords = 8;
constexpr uint64_t kCanaryWord = 0x6b6e2d737461636bull;  // "kn-stack"

}  // namespace

FiberStack::FiberStack(size_t bytes, bool guarded) : guard_(guarded ? size_t(sysconf(_SC_PAGESIZE)) : 0), bytes_(bytes) {
  void* memory = mmap(nullptr, guard_ + bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (memory == MAP_FAILED) throw std::bad_alloc();
  base_ = static_cast<char*>(memory);
  if (guarded) mprotect(base_, guard_, PROT_NONE);  // a stack overflow faults instead of corrupting a neighbour
  else for (size_t i = 0; i < kCanaryWords; ++i) reinterpret_cast<uint64_t*>(base_)[i] = kCanaryWord;
}

bool FiberStack::intact() const {
  if (guard_) return true;
  for (size_t i = 0; i < kCanaryWords; ++i)
    if (reinterpret_cast<const uint64_t*>(base_)[i] != kCanaryWord) return false;
  return true;
}

FiberStack::~FiberStack() { munmap(base_, guard_ + bytes_); }

void* prepare_context(const FiberStack& stack, void (*entry)(void*), void* argument) {
#if defined(__SANITIZE_ADDRESS__)
  // The last fiber on this stack never returned from its frames: clear what it left poisoned.
  __asan_unpoison_memory_region(stack.bottom(), stack.size());
#endif
  const uintptr_t top = (reinterpret_cast<uintptr_t>(stack.bottom()) + stack.size()) & ~uintptr_t(15);
#if defined(__x86_64__)
  // After the switch's six pops and its ret, rsp must be 16-byte aligned in the trampoline.
  auto* words = reinterpret_cast<void**>(top - 24 - 8 * kSavedWords);
  words[0] = nullptr;                           // r15
  words[1] = nullptr;                           // r14
  words[2] = nullptr;                           // r13
  words[3] = argument;                          // r12
  words[4] = reinterpret_cast<void*>(entry);    // rbx
  words[5] = nullptr;                           // rbp
  words[6] = reinterpret_cast<void*>(&kn_emu_trampoline);  // return address
  return words;
#else
  auto* words = reinterpret_cast<void**>(top - 160);
  for (int i = 0; i < 20; ++i) words[i] = nullptr;
  words[0] = reinterpret_cast<void*>(entry);    // x19
  words[1] = argument;                          // x20
  words[11] = reinterpret_cast<void*>(&kn_emu_trampoline);  // x30
  return words;
#endif
}

void switch_context(void** save, void* load) { kn_emu_switch(save, load); }

#if defined(__SANITIZE_ADDRESS__)
// No fake stacks (run with ASAN_OPTIONS=detect_stack_use_after_return=0): nothing to carry over.
void before_switch(const void* target_bottom, size_t target_size) {
  __sanitizer_start_switch_fiber(nullptr, target_bottom, target_size);
}
void after_switch(const void** previous_bottom, size_t* previous_size) {
  __sanitizer_finish_switch_fiber(nullptr, previous_bottom, previous_size);
}
#else
void before_switch(const void*, size_t) {}
void after_switch(const void** previous_bottom, size_t* previous_size) {
  if (previous_bottom) *previous_bottom = nullptr;
  if (previous_size) *previous_size = 0;
}
#endif

}  // namespace kn_emu
