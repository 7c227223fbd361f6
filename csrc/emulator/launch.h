// Kernel launches in the SIMT emulator: launch_kernel copies the arguments into the kernel's own
// parameter types at the call (as CUDA does) and queues the grid on the stream; the stream's
// thread runs it (scheduler.cpp). The call site travels with the launch for the reports.
#pragma once

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
  const void* function;               // the kernel, as cudaFuncSetAttribute names it
  std::source_location where;
  std::shared_ptr<const void> data;   // the kernel and a copy of its arguments
  size_t data_bytes;
  void (*thread_body)(const void* data);  // what every thread runs: the kernel on the arguments
};

// Checks the configuration (a failure becomes cudaGetLastError's) and queues the launch.
void enqueue_launch(cudaStream_t stream, KernelLaunch launch);

template <typename Kernel, typename Params>
struct LaunchData {
  Kernel kernel;
  Params params;
};

template <typename Data>
void run_thread(const void* data) {
  const Data& launch = *static_cast<const Data*>(data);
  std::apply(launch.kernel, launch.params);
}

template <typename... Params, typename... Args>
KernelLaunch make_launch(void (*kernel)(Params...), const GridAt& grid, dim3 block, size_t shared_bytes, bool cooperative,
                         Args&&... args) {
  using Data = LaunchData<void (*)(Params...), std::tuple<std::decay_t<Params>...>>;
  auto data = std::make_shared<Data>(Data{kernel, std::tuple<std::decay_t<Params>...>(std::forward<Args>(args)...)});
  return KernelLaunch{grid.grid, block, shared_bytes, cooperative, reinterpret_cast<const void*>(kernel), grid.where,
                      data, sizeof(Data), &run_thread<Data>};
}

template <typename... Params, typename... Args>
void launch_kernel(void (*kernel)(Params...), GridAt grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
                   Args&&... args) {
  enqueue_launch(stream, make_launch(kernel, grid, block, shared_bytes, false, std::forward<Args>(args)...));
}

template <typename... Params, typename... Args>
void launch_cooperative_kernel(void (*kernel)(Params...), GridAt grid, dim3 block, size_t shared_bytes,
                               cudaStream_t stream, Args&&... args) {
  enqueue_launch(stream, make_launch(kernel, grid, block, shared_bytes, true, std::forward<Args>(args)...));
}

}  // namespace kn_emu
