// The emulated build's extra exports (KN_CUDA=emulate): the emulator's counters, and the knobs
// its tests turn (a slow stream, race mode).
#include "emulator_binding.h"

#include "../emulator/diagnostics.h"
#include "device_memory.h"

namespace kn::addon {
namespace {

// emulatorCounters() -> { launches, allocations, bytesRead, bytesWritten, hostTransfers, hostWaits, gridSyncs }, cumulative
Napi::Value emulator_counters(const Napi::CallbackInfo& info) {
  const kn_emu::Counters counters = kn_emu::counters();
  auto result = Napi::Object::New(info.Env());
  result.Set("launches", double(counters.launches));
  result.Set("allocations", double(counters.allocations));
  result.Set("bytesRead", double(counters.bytes_read));
  result.Set("bytesWritten", double(counters.bytes_written));
  result.Set("hostTransfers", double(counters.host_transfers));
  result.Set("hostWaits", double(counters.host_waits));
  result.Set("gridSyncs", double(counters.grid_syncs));
  return result;
}

// emulatorStreamDelay(stream: bigint, microseconds): each operation of the stream waits this long.
Napi::Value emulator_stream_delay(const Napi::CallbackInfo& info) {
  if (!info[0].IsBigInt()) throw Napi::TypeError::New(info.Env(), "stream: expected a bigint");
  if (!info[1].IsNumber() || !(info[1].As<Napi::Number>().DoubleValue() >= 0))
    throw Napi::TypeError::New(info.Env(), "microseconds: expected a non-negative number");
  bool lossless = true;
  const cudaStream_t stream = cuda_stream(0, info[0].As<Napi::BigInt>().Uint64Value(&lossless));
  if (kn_emu::set_stream_delay(stream, unsigned(info[1].As<Napi::Number>().Uint32Value())) != cudaSuccess)
    throw Napi::Error::New(info.Env(), "emulatorStreamDelay: not a stream");
  return info.Env().Undefined();
}

// emulatorRaceMode(on: boolean)
Napi::Value emulator_race_mode(const Napi::CallbackInfo& info) {
  if (!info[0].IsBoolean()) throw Napi::TypeError::New(info.Env(), "on: expected a boolean");
  kn_emu::set_race_mode(info[0].As<Napi::Boolean>().Value());
  return info.Env().Undefined();
}

}  // namespace

void register_emulator(Napi::Env env, Napi::Object exports) {
  exports.Set("emulatorCounters", Napi::Function::New(env, emulator_counters, "emulatorCounters"));
  exports.Set("emulatorStreamDelay", Napi::Function::New(env, emulator_stream_delay, "emulatorStreamDelay"));
  exports.Set("emulatorRaceMode", Napi::Function::New(env, emulator_race_mode, "emulatorRaceMode"));
}

}  // namespace kn::addon
