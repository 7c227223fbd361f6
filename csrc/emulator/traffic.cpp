#include "traffic.h"

#include <vector>

// The bounds of the section holding every static __shared__ variable (the linker defines them).
extern "C" char __start_kn_emu_shared[] __attribute__((weak));
extern "C" char __stop_kn_emu_shared[] __attribute__((weak));

namespace kn_emu {

thread_local LocalRanges local_ranges{};

namespace {

constexpr int kSectorShift = 5;  // 32-byte sectors, a GPU's unit of DRAM access

// A set of sector numbers (open addressing, linear probing; 0 marks an empty slot, so sector s is
// stored as s + 1). Grows at half full; `take` empties it and returns how many it held.
class SectorSet {
 public:
  void insert(uint64_t sector) {
    if (2 * (count_ + 1) > slots_.size()) grow();
    const uint64_t key = sector + 1;
    for (size_t at = slot_of(key);; at = (at + 1) & (slots_.size() - 1)) {
      if (slots_[at] == key) return;
      if (slots_[at] == 0) {
        slots_[at] = key;
        ++count_;
        return;
      }
    }
  }

  uint64_t take() {
    const uint64_t held = count_;
    std::vector<uint64_t>().swap(slots_);
    count_ = 0;
    return held;
  }

 private:
  size_t slot_of(uint64_t key) const { return size_t((key * 0x9e3779b97f4a7c15ull) >> 20) & (slots_.size() - 1); }

  void grow() {
    std::vector<uint64_t> old(slots_.size() ? 2 * slots_.size() : 1024, 0);
    old.swap(slots_);
    count_ = 0;
    for (const uint64_t key : old)
      if (key) insert(key - 1);
  }

  std::vector<uint64_t> slots_;
  uint64_t count_ = 0;
};

thread_local SectorSet sectors_read, sectors_written;  // stay empty in the AddressSanitizer build

[[maybe_unused]] void note(SectorSet& sectors, uintptr_t address, size_t size) {
  for (uint64_t sector = address >> kSectorShift; sector <= (address + size - 1) >> kSectorShift; ++sector) sectors.insert(sector);
}

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
  read = sectors_read.take() << kSectorShift;
  written = sectors_written.take() << kSectorShift;
}

}  // namespace kn_emu

#if !defined(__SANITIZE_ADDRESS__)
// The compiler's hooks (kernel files only; see traffic.h). Not in the AddressSanitizer build,
// whose runtime owns these names.
#define KN_EMU_ACCESS_HOOKS(size)                                                 \
  extern "C" void __asan_load##size##_noabort(uintptr_t address) {                \
    if (kn_emu::global_memory(address)) kn_emu::note(kn_emu::sectors_read, address, size);     \
  }                                                                               \
  extern "C" void __asan_store##size##_noabort(uintptr_t address) {               \
    if (kn_emu::global_memory(address)) kn_emu::note(kn_emu::sectors_written, address, size);  \
  }
KN_EMU_ACCESS_HOOKS(1)
KN_EMU_ACCESS_HOOKS(2)
KN_EMU_ACCESS_HOOKS(4)
KN_EMU_ACCESS_HOOKS(8)
KN_EMU_ACCESS_HOOKS(16)
#undef KN_EMU_ACCESS_HOOKS

extern "C" void __asan_handle_no_return() {}  // called before a throw; nothing to unpoison here
extern "C" void __asan_loadN_noabort(uintptr_t address, size_t size) {
  if (size && kn_emu::global_memory(address)) kn_emu::note(kn_emu::sectors_read, address, size);
}
extern "C" void __asan_storeN_noabort(uintptr_t address, size_t size) {
  if (size && kn_emu::global_memory(address)) kn_emu::note(kn_emu::sectors_written, address, size);
}
#endif
