#pragma once

#include <napi.h>

namespace kn::addon {

// Adds threadCount() and parallelCopy(dst, src) (the bandwidth ceiling for benchmarks).
void register_runtime(Napi::Env env, Napi::Object exports);

}  // namespace kn::addon
