// The groups of entry points of the tools addon (tools_addon.cpp registers them). Typed for
// TypeScript in tools/binding.ts.
#pragma once

#include <napi.h>

namespace kn::tools {

// planCoverage(args): the CPU walk of the CUDA launch plan (plan_coverage.cpp).
void register_plan_coverage(Napi::Env env, Napi::Object exports);

// parallelCopy(args), parallelRead(args): the CPU ceilings of the benchmark (parallel_copy.cpp).
void register_parallel_copy(Napi::Env env, Napi::Object exports);

// poolFailure(args): a parallel_for whose body throws, for the pool's tests (pool_failure.cpp).
void register_pool_failure(Napi::Env env, Napi::Object exports);

#ifdef KN_TOOLS_WITH_CUDA
// eventRecord(stream), eventElapsedMs(start, end): CUDA event timing (cuda_timing.cpp).
void register_cuda_timing(Napi::Env env, Napi::Object exports);

// cudnnInfo(), cudnnBatchNorm(args): cuDNN batch norm loaded at run time (cudnn_peer.cpp).
void register_cudnn_peer(Napi::Env env, Napi::Object exports);
#endif

}  // namespace kn::tools
