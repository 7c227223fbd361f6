// The one place that chooses between the CPU and the CUDA backend (the only file with
// #ifdef KN_WITH_CUDA / KN_CUDA_EMULATED in the addon).
#pragma once

#include <napi.h>

#include <cstdint>

#include "../common/kalman_norm_call.h"
#include "../common/transition_functors.h"
#include "arguments.h"

namespace kn::addon {

// Where and how one call runs: the placement of its memory and, on CUDA, the device and stream.
struct CallContext {
  Napi::Env env;
  Placement where;
  int device = 0;
  uint64_t stream = 0;  // a cudaStream_t; 0 = this package's stream for the device
};

// Reads `where: { device, dtype, deviceIndex, stream }` from the argument object.
CallContext call_context(const Napi::Object& args);

// The CPU runs the call at once; CUDA queues it on the call's stream.
void run_forward_training(const TrainingForward& call, const CallContext& context);
void run_forward_fixed(const FixedStatisticsForward& call, const CallContext& context);
void run_backward(const Backward& call, const CallContext& context);

// Runs a transition functor over [0, count): a loop on the CPU, a kernel on CUDA.
#define KN_DECLARE_RUN(F) void run_elementwise(const F& f, int64_t count, const CallContext& context);
KN_TRANSITION_FUNCTORS(KN_DECLARE_RUN)
#undef KN_DECLARE_RUN

// Runs a ProductBlend (csrc/common/covariance_math.h): a threaded loop on the CPU, a tiled kernel on CUDA.
void run_product(const ProductBlend& f, const CallContext& context);

// Adds cudaInfo() and, in a CUDA build, the device memory functions to the exports.
void register_device(Napi::Env env, Napi::Object exports);

}  // namespace kn::addon
