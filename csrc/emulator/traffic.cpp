#include "traffic.h"

// The bounds of the section holding every static __shared__ variable (the linker defines them).
extern "C" char __start_kn_emu_shared[] __attribute__((weak));
extern "C" char __stop_kn_emu_shared[] __attribute__((weak));

namespace kn_emu {

thread_local LocalRanges local_ranges{};

namespace {

thread_local uint64_t bytes_read = 0, bytes_written = 0;  // stay 0 in the AddressSanitizer build

[[maybe_unused]] bool in(uintptr_t address, uintptr_t begin, uintptr_t end) { return address >= begin && address < end; }

[[maybe_unused]] bool global_memory(uintptr_t address) {
  const LocalRanges& local = local_ranges;
  if (local.stack_end == 0) return false;  // host code of the kernel files, not a kernel thread
  return !in(address, local.stack_begin, local.stack_end) &&
         !in(address, local.dynamic_shared_begin, local.dynamic_shared_end) &&
         !in(address, local.launch_begin, local.launch_end) &&
         !in(address, uintptr_t(__start_kn_emu_shared), uintptr_t(__stop_kn_emu_shared));
}

}  // namespace

void take_kernel_traffic(uint64_t& read, uint64_t& written) {
  read = bytes_read;
  written = bytes_written;
  bytes_read = bytes_written = 0;
}

}  // namespace kn_emu

#if !defined(__SANITIZE_ADDRESS__)
// The compiler's hooks (kernel files only; see traffic.h). Not in the AddressSanitizer build,
// whose runtime owns these names.
#define KN_EMU_ACCESS_HOOKS(size)                                               \
  extern "C" void __asan_load##size##_noabort(uintptr_t address) {              \
    if (kn_emu::global_memory(address)) kn_emu::bytes_read += size;             \
  }                                                                             \
  extern "C" void __asan_store##size##_noabort(uintptr_t address) {             \
    if (kn_emu::global_memory(address)) kn_emu::bytes_written += size;         \
  }
KN_EMU_ACCESS_HOOKS(1)
KN_EMU_ACCESS_HOOKS(2)
KN_EMU_ACCESS_HOOKS(4)
KN_EMU_ACCESS_HOOKS(8)
KN_EMU_ACCESS_HOOKS(16)
#undef KN_EMU_ACCESS_HOOKS

extern "C" void __asan_handle_no_return() {}  // called before a throw; nothing to unpoison here
extern "C" void __asan_loadN_noabort(uintptr_t address, size_t size) {
  if (kn_emu::global_memory(address)) kn_emu::bytes_read += size;
}
extern "C" void __asan_storeN_noabort(uintptr_t address, size_t size) {
  if (kn_emu::global_memory(address)) kn_emu::bytes_written += size;
}
#endif
