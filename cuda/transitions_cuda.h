// The CUDA side of the transition ops: one thread per index of a transition functor.
#pragma once

#include <cuda_runtime_api.h>
#include <stdint.h>

#include "cuda_check.h"
#include "../csrc/common/transition_functors.h"

namespace kn::cuda {

// Queues f(i) for i in [0, count) on `stream`; failures throw CudaError.
#define KN_DECLARE_RUN(F) void run_elementwise(const F& f, int64_t count, cudaStream_t stream);
KN_TRANSITION_FUNCTORS(KN_DECLARE_RUN)
#undef KN_DECLARE_RUN

}  // namespace kn::cuda
