#include "scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memory>
#include <string>
#include <vector>

#include "fiber.h"
#include "traffic.h"

// The bounds of the section holding every static __shared__ variable (the linker defines them).
extern "C" char __start_kn_emu_shared[] __attribute__((weak));
extern "C" char __stop_kn_emu_shared[] __attribute__((weak));

thread_local uint3 threadIdx;
thread_local uint3 blockIdx;
thread_local dim3 blockDim;
thread_local dim3 gridDim;

namespace kn_emu {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr size_t kStackBytes = 512 * 1024;
#else
constexpr size_t kStackBytes = 128 * 1024;
#endif
constexpr size_t kCanaryBytes = 64;
constexpr unsigned char kCanary = 0xa5;
// A cooperative launch runs all its threads as fibers at once: one block of 256 threads for each of
// the emulated device's 132 SMs at most (the persistent kernels launch exactly that).
constexpr int kMaxCooperativeThreads = 132 * 256;
// Stacks with a guard page (two memory maps each); those beyond rely on a canary (fiber.h).
constexpr size_t kGuardedStacks = 16384;

const char* op_name(WarpOp op) {
  switch (op) {
    case WarpOp::kShfl: return "__shfl_sync";
    case WarpOp::kShflUp: return "__shfl_up_sync";
    case WarpOp::kShflDown: return "__shfl_down_sync";
    case WarpOp::kShflXor: return "__shfl_xor_sync";
    case WarpOp::kSync: return "__syncwarp";
    case WarpOp::kBallot: return "__ballot_sync";
    case WarpOp::kAny: return "__any_sync";
    default: return "__all_sync";
  }
}

std::string site(const std::source_location& where) {
  return std::string(where.file_name()) + ":" + std::to_string(where.line()) + " (" + where.function_name() + ")";
}

bool same_site(const std::source_location& a, const std::source_location& b) {
  return a.line() == b.line() && a.column() == b.column() && strcmp(a.file_name(), b.file_name()) == 0;
}

std::string hex(unsigned value) {
  char text[16];
  snprintf(text, sizeof(text), "0x%08x", value);
  return text;
}

struct Barrier {
  uint64_t generation = 0;
  int arrived = 0;
  int exited = 0;
  int threads = 0;
  std::source_location where;
};

struct Warp {
  uint64_t generation = 0;
  unsigned members = 0;   // lanes that exist
  unsigned arrived = 0;   // lanes waiting in the current op
  unsigned exited = 0;
  unsigned mask = 0;
  WarpOp op = WarpOp::kSync;
  std::source_location where;
  uint64_t values[2][32];
  uint8_t sources[2][32];
};

struct Block {
  uint3 index;
  Barrier barrier;
  std::vector<Warp> warps;
  unsigned char* shared = nullptr;
  std::vector<unsigned char> statics;  // its static __shared__ variables while another block runs
};

struct Thread {
  void* context = nullptr;
  Block* block = nullptr;
  Warp* warp = nullptr;
  uint3 index;
  int lane = 0;
  bool done = false;
  const uint64_t* waits_on = nullptr;  // resumes once *waits_on != wait_value
  uint64_t wait_value = 0;
  std::source_location waits_at;
  const char* waits_in = "";
};

// The state of the launch being run (one at a time; see run_grid).
struct Run {
  const KernelLaunch* launch = nullptr;
  std::vector<std::unique_ptr<FiberStack>> stacks;
  std::vector<Thread> threads;
  std::vector<Block> blocks;
  Barrier grid;
  Thread* current = nullptr;
  Block* statics_owner = nullptr;  // whose static __shared__ variables the section holds (see load_statics)
  void* scheduler_context = nullptr;
  const void* scheduler_stack = nullptr;
  size_t scheduler_stack_size = 0;
  std::string failure;
};

// Never destroyed: the streams' threads outlive static destruction at exit (streams.cpp), and one
// may still be running a kernel then.
Run& run = *new Run;

std::string who(const Thread& thread) {
  const uint3 b = thread.block->index, t = thread.index;
  return "thread (" + std::to_string(t.x) + "," + std::to_string(t.y) + "," + std::to_string(t.z) + ") of block (" +
         std::to_string(b.x) + "," + std::to_string(b.y) + "," + std::to_string(b.z) + ")";
}

void to_scheduler() {
  before_switch(run.scheduler_stack, run.scheduler_stack_size);
  switch_context(&run.current->context, run.scheduler_context);
  after_switch();
}

// Ends the kernel: the scheduler abandons every fiber (their stacks are simply reused).
[[noreturn]] void fail(const std::string& what) {
  if (run.failure.empty()) run.failure = what;
  for (;;) to_scheduler();
}

void wait_for_change(const uint64_t* generation, const std::source_location& where, const char* in) {
  Thread& self = *run.current;
  self.waits_on = generation;
  self.wait_value = *generation;
  self.waits_at = where;
  self.waits_in = in;
  to_scheduler();
  self.waits_on = nullptr;
}

void arrive(Barrier& barrier, const std::source_location& where, const char* name, const char* group) {
  Thread& self = *run.current;
  if (barrier.exited > 0)
    fail(std::string(name) + " at " + site(where) + ": a thread of the " + group +
         " has already returned, so the barrier is not reached by every thread (" + who(self) + " waits)");
  if (barrier.arrived == 0) {
    barrier.where = where;
  } else if (!same_site(barrier.where, where)) {
    fail(std::string("divergent ") + name + ": " + who(self) + " waits at " + site(where) + ", other threads of its " +
         group + " at " + site(barrier.where));
  }
  if (++barrier.arrived == barrier.threads) {
    barrier.arrived = 0;
    ++barrier.generation;
    return;
  }
  wait_for_change(&barrier.generation, where, name);
}

void on_exit(Thread& self) {
  self.done = true;
  Block& block = *self.block;
  ++block.barrier.exited;
  ++run.grid.exited;
  if (block.barrier.arrived > 0)
    fail(who(self) + " returned while other threads of its block wait at __syncthreads at " + site(block.barrier.where));
  if (run.grid.arrived > 0)
    fail(who(self) + " returned while other threads wait at the grid sync at " + site(run.grid.where));
  Warp& warp = *self.warp;
  const unsigned bit = 1u << self.lane;
  warp.exited |= bit;
  if (warp.arrived != 0 && (warp.mask & bit))
    fail(who(self) + " (lane " + std::to_string(self.lane) + ") returned while its warp waits for it at " +
         op_name(warp.op) + " at " + site(warp.where) + " (mask " + hex(warp.mask) + ")");
}

void fiber_main(void* argument) {
  after_switch(&run.scheduler_stack, &run.scheduler_stack_size);
  Thread& self = *static_cast<Thread*>(argument);
  run.launch->thread_body(run.launch->data.get());
  on_exit(self);
  for (;;) to_scheduler();
}

int source_lane(WarpOp op, int lane, int argument, int width) {
  const int segment = lane & ~(width - 1), within = lane & (width - 1);
  switch (op) {
    case WarpOp::kShfl: return segment + (argument & (width - 1));
    case WarpOp::kShflUp: return within >= argument ? lane - argument : lane;
    case WarpOp::kShflDown: return within + argument < width ? lane + argument : lane;
    case WarpOp::kShflXor: {
      const int source = lane ^ argument;
      return (source & ~(width - 1)) == segment ? source : lane;
    }
    default: return lane;
  }
}

// Static __shared__ variables are one section of the process (device_language.h), which is right
// while one block runs at a time. The blocks of a cooperative launch run together, so each keeps
// its own copy, swapped into the section whenever the scheduler moves to a thread of another block.
void load_statics(Block& block) {
  if (run.statics_owner == &block) return;
  if (run.statics_owner) memcpy(run.statics_owner->statics.data(), __start_kn_emu_shared, static_shared_bytes());
  memcpy(__start_kn_emu_shared, block.statics.data(), static_shared_bytes());
  run.statics_owner = &block;
}

// Runs the threads [first, last) until all return; "" or the failure.
void schedule(size_t first, size_t last, ThreadOrder order) {
  const size_t count = last - first;
  for (;;) {
    bool progress = false, all_done = true;
    for (size_t step = 0; step < count; ++step) {
      Thread& thread = run.threads[order == ThreadOrder::kAscending ? first + step : last - 1 - step];
      if (thread.done) continue;
      all_done = false;
      if (thread.waits_on && *thread.waits_on == thread.wait_value) continue;
      threadIdx = thread.index;
      blockIdx = thread.block->index;
      if (!thread.block->statics.empty()) load_statics(*thread.block);
      run.current = &thread;
      const size_t index = size_t(&thread - run.threads.data());
      const FiberStack& stack = *run.stacks[index];
      const auto launch_data = uintptr_t(run.launch->data.get()), shared = uintptr_t(thread.block->shared);
      local_ranges = LocalRanges{uintptr_t(stack.bottom()), uintptr_t(stack.bottom()) + stack.size(), shared,
                                 shared + run.launch->shared_bytes, launch_data, launch_data + run.launch->data_bytes};
      before_switch(stack.bottom(), stack.size());
      switch_context(&run.scheduler_context, thread.context);
      after_switch();
      local_ranges = LocalRanges{};
      progress = true;
      if (!stack.intact() && run.failure.empty()) run.failure = who(thread) + " overflowed its " + std::to_string(stack.size()) + "-byte stack";
      if (!run.failure.empty()) return;
    }
    if (all_done) return;
    if (!progress) {
      std::string report = "deadlock: no thread can continue;";
      int listed = 0;
      for (size_t i = first; i < last && listed < 4; ++i) {
        const Thread& thread = run.threads[i];
        if (thread.done) continue;
        report += " " + who(thread) + " waits in " + thread.waits_in + " at " + site(thread.waits_at) + ";";
        ++listed;
      }
      run.failure = report;
      return;
    }
  }
}

std::string launch_site() { return " [kernel launched at " + site(run.launch->where) + "]"; }

}  // namespace

uint64_t last_grid_syncs() { return run.grid.generation; }

size_t static_shared_bytes() { return size_t(__stop_kn_emu_shared - __start_kn_emu_shared); }

void fill_nan(void* memory, size_t bytes) {
  auto* out = static_cast<unsigned char*>(memory);
  for (size_t i = 0; i < bytes; ++i) out[i] = (i & 1) ? 0x7f : 0xc0;  // 0x7fc0 halves, 0x7fc07fc0 floats
}

void block_barrier(const std::source_location& where) { arrive(run.current->block->barrier, where, "__syncthreads", "block"); }

void grid_barrier(const std::source_location& where) {
  if (!run.launch->cooperative) fail("grid sync at " + site(where) + " in a kernel not launched with launch_cooperative_kernel");
  arrive(run.grid, where, "grid sync", "grid");
}

uint64_t warp_op(WarpOp op, unsigned mask, uint64_t value, int argument, int width, const std::source_location& where) {
  Thread& self = *run.current;
  Warp& warp = *self.warp;
  const unsigned bit = 1u << self.lane;
  const std::string call = std::string(op_name(op)) + " at " + site(where);
  if (!(mask & bit)) fail(call + ": lane " + std::to_string(self.lane) + " calls it with a mask (" + hex(mask) + ") that leaves it out");
  if (mask & ~warp.members) fail(call + ": the mask " + hex(mask) + " names lanes that do not exist in this block");
  if (width <= 0 || width > 32 || (width & (width - 1))) fail(call + ": width " + std::to_string(width) + " is not a power of 2 up to 32");
  if (warp.arrived == 0) {
    warp.op = op;
    warp.mask = mask;
    warp.where = where;
  } else if (warp.op != op || warp.mask != mask) {
    fail("divergent warp: lane " + std::to_string(self.lane) + " of " + who(self) + " is at " + call + " (mask " + hex(mask) +
         "), other lanes at " + op_name(warp.op) + " at " + site(warp.where) + " (mask " + hex(warp.mask) + ")");
  }
  if (warp.exited & mask)
    fail(call + ": lane " + std::to_string(__builtin_ctz(warp.exited & mask)) + " of the mask has returned, so " + who(self) +
         " would wait for it forever");
  const int parity = int(warp.generation & 1);
  warp.values[parity][self.lane] = value;
  warp.sources[parity][self.lane] = uint8_t(source_lane(op, self.lane, argument, width));
  warp.arrived |= bit;
  if ((warp.arrived & mask) == mask) {
    warp.arrived = 0;
    ++warp.generation;
  } else {
    wait_for_change(&warp.generation, where, op_name(op));
  }
  const uint64_t* values = warp.values[parity];
  switch (op) {
    case WarpOp::kSync: return 0;
    case WarpOp::kBallot:
    case WarpOp::kAny:
    case WarpOp::kAll: {
      unsigned ballot = 0;
      for (int lane = 0; lane < 32; ++lane)
        if ((mask >> lane & 1u) && values[lane]) ballot |= 1u << lane;
      return op == WarpOp::kBallot ? ballot : (op == WarpOp::kAny ? ballot != 0 : ballot == mask);
    }
    default: {
      const int source = warp.sources[parity][self.lane];
      if (!(mask >> source & 1u))
        fail(call + ": lane " + std::to_string(self.lane) + " reads lane " + std::to_string(source) + ", which is not in the mask " + hex(mask));
      return values[source];
    }
  }
}

unsigned active_mask() { return run.current->warp->members & ~run.current->warp->exited; }

void* dynamic_shared_memory() { return run.current->block->shared; }

std::string run_grid(const KernelLaunch& launch, ThreadOrder order) {
  const dim3 grid = launch.grid, block = launch.block;
  const size_t block_threads = size_t(block.x) * block.y * block.z;
  const size_t block_count = size_t(grid.x) * grid.y * grid.z;
  const size_t together = launch.cooperative ? block_count : 1;  // blocks run as one set of fibers
  if (launch.cooperative && together * block_threads > size_t(kMaxCooperativeThreads))
    return "cooperative launch of " + std::to_string(together * block_threads) + " threads: the emulator runs at most " +
           std::to_string(kMaxCooperativeThreads) + " together" + launch_site();
  run.launch = &launch;
  run.failure.clear();
  gridDim = grid;
  blockDim = block;
  const size_t fibers = together * block_threads;
  while (run.stacks.size() < fibers) run.stacks.push_back(std::make_unique<FiberStack>(kStackBytes, run.stacks.size() < kGuardedStacks));
  run.threads.assign(fibers, Thread{});
  run.blocks.assign(together, Block{});
  const size_t warps_per_block = (block_threads + 31) / 32;
  std::vector<unsigned char> shared;  // each block's dynamic shared memory, then a canary

  for (size_t first_block = 0; first_block < block_count; first_block += together) {
    const size_t step_block = order == ThreadOrder::kAscending ? first_block : block_count - together - first_block;
    run.grid = Barrier{};
    run.grid.threads = int(fibers);
    for (size_t b = 0; b < together; ++b) {
      const size_t linear = step_block + b;
      Block& state = run.blocks[b];
      state = Block{};
      state.index = uint3{unsigned(linear % grid.x), unsigned(linear / grid.x % grid.y), unsigned(linear / grid.x / grid.y)};
      state.barrier.threads = int(block_threads);
      state.warps.assign(warps_per_block, Warp{});
      for (size_t w = 0; w < warps_per_block; ++w) {
        const size_t lanes = block_threads - w * 32 < 32 ? block_threads - w * 32 : 32;
        state.warps[w].members = lanes == 32 ? 0xffffffffu : ((1u << lanes) - 1);
      }
      for (size_t t = 0; t < block_threads; ++t) {
        Thread& thread = run.threads[b * block_threads + t];
        thread = Thread{};
        thread.block = &state;
        thread.warp = &state.warps[t / 32];
        thread.lane = int(t % 32);
        thread.index = uint3{unsigned(t % block.x), unsigned(t / block.x % block.y), unsigned(t / block.x / block.y)};
        thread.context = prepare_context(*run.stacks[b * block_threads + t], fiber_main, &thread);
      }
    }
    const size_t stride = launch.shared_bytes + kCanaryBytes;
    shared.resize(together * stride);
    for (size_t b = 0; b < together; ++b) {
      // Unwritten shared memory reads as NaN; the canary after it must stay untouched.
      unsigned char* base = shared.data() + b * stride;
      fill_nan(base, launch.shared_bytes);
      memset(base + launch.shared_bytes, kCanary, kCanaryBytes);
      run.blocks[b].shared = base;
    }
    if (static_shared_bytes()) fill_nan(__start_kn_emu_shared, static_shared_bytes());
    run.statics_owner = nullptr;
    if (together > 1 && static_shared_bytes())
      for (size_t b = 0; b < together; ++b) run.blocks[b].statics.assign(__start_kn_emu_shared, __stop_kn_emu_shared);
    schedule(0, fibers, order);
    if (run.failure.empty()) {
      for (size_t b = 0; b < together; ++b)
        for (size_t i = 0; i < kCanaryBytes; ++i)
          if (run.blocks[b].shared[launch.shared_bytes + i] != kCanary) {
            run.failure = "a thread of block " + std::to_string(step_block + b) + " wrote past the end of its " +
                          std::to_string(launch.shared_bytes) + " bytes of dynamic shared memory (byte " +
                          std::to_string(launch.shared_bytes + i) + ")";
            break;
          }
    }
    if (!run.failure.empty()) return run.failure + launch_site();
  }
  return "";
}

}  // namespace kn_emu
