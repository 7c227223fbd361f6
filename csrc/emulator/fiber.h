// Fibers for the SIMT emulator: a stack and a saved stack pointer, and a switch that saves the
// callee-saved registers of one context and restores another's (x86-64 and AArch64 in assembly).
// Switching is a few nanoseconds, so a warp shuffle costs 32 switches and nothing more.
#pragma once

#include <stddef.h>

namespace kn_emu {

// A fiber's stack, mmap'd. With `guarded`, a page below it that faults on overflow; without, a
// canary in its lowest bytes that `intact()` checks. A guard page costs the process two memory
// maps (Linux allows 65530 by default), so only the first stacks of a process get one: see
// kGuardedStacks in scheduler.cpp.
class FiberStack {
 public:
  FiberStack(size_t bytes, bool guarded);
  ~FiberStack();
  FiberStack(const FiberStack&) = delete;
  FiberStack& operator=(const FiberStack&) = delete;
  char* bottom() const { return base_ + guard_; }
  size_t size() const { return bytes_; }
  bool intact() const;  // the canary is untouched (always true with a guard page)

 private:
  char* base_;
  size_t guard_;
  size_t bytes_;
};

// A context that, when switched to, calls entry(argument) on `stack`. entry must never return.
void* prepare_context(const FiberStack& stack, void (*entry)(void*), void* argument);

// Saves the running context into *save and continues the context `load`.
void switch_context(void** save, void* load);

// AddressSanitizer must be told when the stack changes; no-ops without it.
void before_switch(const void* target_bottom, size_t target_size);
void after_switch(const void** previous_bottom = nullptr, size_t* previous_size = nullptr);

}  // namespace kn_emu
