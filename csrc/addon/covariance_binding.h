#pragma once

#include <napi.h>

namespace kn::addon {

// Adds the input node's and the covariance transition's ops (see covariance_binding.cpp).
void register_covariance(Napi::Env env, Napi::Object exports);

}  // namespace kn::addon
