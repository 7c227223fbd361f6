#pragma once

#include <napi.h>

namespace kn::addon {

// Adds threadCount().
void register_runtime(Napi::Env env, Napi::Object exports);

}  // namespace kn::addon
