#pragma once

#include <napi.h>

namespace kn::addon {

// Adds planCoverage(args), the CPU walk of the CUDA launch plan that the tests use.
void register_plan_coverage(Napi::Env env, Napi::Object exports);

}  // namespace kn::addon
