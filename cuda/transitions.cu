// One grid-stride kernel template runs every transition functor (transition_math.h) on the GPU:
// the statistic rows are small ([rows, channels]), so one thread per output value is plenty.
#include "transitions_cuda.h"

#include "kernel_launch.cuh"

namespace kn::cuda {
namespace {

constexpr int kThreads = 256;

template <typename F>
__global__ void __launch_bounds__(kThreads) elementwise_kernel(F f, int64_t count) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride) f(i);
}

template <typename F>
void launch(const F& f, int64_t count, cudaStream_t stream) {
  if (count <= 0) return;
  const int64_t wanted = (count + kThreads - 1) / kThreads;
  launch_kernel(elementwise_kernel<F>, unsigned(wanted < 4096 ? wanted : 4096), kThreads, 0, stream, f, count);
  check_launch("transition", "elementwise_kernel");
}

}  // namespace

#define KN_DEFINE_RUN(F) \
  void run_elementwise(const F& f, int64_t count, cudaStream_t stream) { launch(f, count, stream); }
KN_TRANSITION_FUNCTORS(KN_DEFINE_RUN)
#undef KN_DEFINE_RUN

}  // namespace kn::cuda
