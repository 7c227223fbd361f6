#pragma once

#include <napi.h>

namespace kn::addon {

// Adds forwardTraining, forwardFixed and backward to the addon's exports.
void register_kalman_norm(Napi::Env env, Napi::Object exports);

}  // namespace kn::addon
