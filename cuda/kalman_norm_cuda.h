// The CUDA backend of KN and GKN: the same arguments as the CPU backend (kalman_norm_call.h), with
// device pointers, plus the stream. Everything is queued on `stream` without synchronizing;
// failures throw CudaError. x, y, dy, dx and the residual may be float32, float16 or bfloat16;
// statistics and parameters are float32.
#pragma once

#include <cuda_runtime_api.h>

#include "cuda_check.h"
#include "../csrc/common/kalman_norm_call.h"

namespace kn::cuda {

void kalman_norm_forward_training(const TrainingForward& args, cudaStream_t stream);

void kalman_norm_forward_fixed(const FixedStatisticsForward& args, cudaStream_t stream);

void kalman_norm_backward(const Backward& args, cudaStream_t stream);

// On (the default): a training pass whose inputs fit in the shared memory of one block per SM runs
// as one persistent launch (persistent_pass.cuh), else as two. Off: always two (tests compare them).
void set_persistent_passes(bool on);

}  // namespace kn::cuda
