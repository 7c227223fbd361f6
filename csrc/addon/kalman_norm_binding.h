#pragma once

#include <napi.h>

namespace kn::addon {

// Adds kalmanNormForwardTraining, kalmanNormForwardFixed and kalmanNormBackward to the exports.
void register_kalman_norm(Napi::Env env, Napi::Object exports);

}  // namespace kn::addon
