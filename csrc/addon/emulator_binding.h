// Exports of the emulated CUDA build only (KN_CUDA=emulate).
#pragma once

#include <napi.h>

namespace kn::addon {

// Adds emulatorCounters, emulatorStreamDelay and emulatorRaceMode to the exports.
void register_emulator(Napi::Env env, Napi::Object exports);

}  // namespace kn::addon
