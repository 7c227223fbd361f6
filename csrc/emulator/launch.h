// Kernel launches in the SIMT emulator: launch_kernel copies the arguments into the kernel's own
// parameter types at the call (as CUDA does) and queues the grid on the stream; the stream's
// thread runs it (scheduler.cpp). The call site travels with the launch for the reports.
#pragma once

#include <functional>
#include <memory>
#include <source_location>
#include <tuple>
#include <type_traits>
#include <utility>

namespace kn_emu {

// The grid of a launch and where the launch was written.
struct GridAt {
  dim3 grid;
  std::source_location where;
  template <typename Grid>
  GridAt(Grid grid_, std::source_location where_ = std::source_location::current()) : grid(dim3(grid_)), where(where_) {}
};

struct KernelLaunch {
  dim3 grid;
  dim3 block;
  size_t shared_bytes;
  bool cooperative;
  std::source_location where;
  std::function<void()> thread_body;  // the kernel with the launch's arguments, run by every thread
};

// Checks the configuration (a failure becomes cudaGetLastError's) and queues the launch.
void enqueue_launch(cudaStream_t stream, KernelLaunch launch);

template <typename... Params, typename... Args>
void launch_kernel(void (*kernel)(Params...), GridAt grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
                   Args&&... args) {
  auto values = std::make_shared<std::tuple<std::decay_t<Params>...>>(std::forward<Args>(args)...);
  enqueue_launch(stream, KernelLaunch{grid.grid, block, shared_bytes, false, grid.where,
                                      [kernel, values] { std::apply(kernel, *values); }});
}

template <typename... Params, typename... Args>
void launch_cooperative_kernel(void (*kernel)(Params...), GridAt grid, dim3 block, size_t shared_bytes,
                               cudaStream_t stream, Args&&... args) {
  auto values = std::make_shared<std::tuple<std::decay_t<Params>...>>(std::forward<Args>(args)...);
  enqueue_launch(stream, KernelLaunch{grid.grid, block, shared_bytes, true, grid.where,
                                      [kernel, values] { std::apply(kernel, *values); }});
}

}  // namespace kn_emu
