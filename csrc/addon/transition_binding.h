#pragma once

#include <napi.h>

namespace kn::addon {

// Adds the transition ops (affineMoments, reluMoments, ... see transition_binding.cpp).
void register_transitions(Napi::Env env, Napi::Object exports);

}  // namespace kn::addon
