#include "arguments.h"

#include <cmath>

namespace kn::tools {

void throw_type(const Napi::Env& env, const std::string& message) { throw Napi::TypeError::New(env, message); }

void throw_range(const Napi::Env& env, const std::string& message) { throw Napi::RangeError::New(env, message); }

Napi::Object object_argument(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsObject()) throw_type(info.Env(), "args: expected an object");
  return info[0].As<Napi::Object>();
}

double number_field(const Napi::Object& args, const char* name) {
  const Napi::Value value = args.Get(name);
  if (!value.IsNumber()) throw_type(args.Env(), std::string(name) + ": expected a number");
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number)) throw_range(args.Env(), std::string(name) + ": expected a finite number");
  return number;
}

int64_t integer_field(const Napi::Object& args, const char* name, int64_t minimum, int64_t maximum) {
  const double number = number_field(args, name);
  if (number != std::floor(number) || number < double(minimum) || number > double(maximum))
    throw_range(args.Env(), std::string(name) + ": expected an integer from " + std::to_string(minimum) + " to " +
                                std::to_string(maximum));
  return int64_t(number);
}

int choice_field(const Napi::Object& args, const char* name, std::initializer_list<const char*> choices) {
  const Napi::Value value = args.Get(name);
  std::string expected;
  for (const char* choice : choices) expected += (expected.empty() ? "'" : ", '") + std::string(choice) + "'";
  if (!value.IsString()) throw_type(args.Env(), std::string(name) + ": expected one of " + expected);
  const std::string text = value.As<Napi::String>().Utf8Value();
  int index = 0;
  for (const char* choice : choices) {
    if (text == choice) return index;
    ++index;
  }
  throw_range(args.Env(), std::string(name) + ": expected one of " + expected + ", got '" + text + "'");
}

uint64_t bigint_value(const Napi::Value& value, const char* name) {
  if (!value.IsBigInt()) throw_type(value.Env(), std::string(name) + ": expected a bigint");
  bool lossless = true;
  const uint64_t result = value.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) throw_range(value.Env(), std::string(name) + ": does not fit 64 bits");
  return result;
}

NormShape shape_field(const Napi::Object& args, const char* name) {
  const Napi::Value value = args.Get(name);
  if (!value.IsObject()) throw_type(args.Env(), std::string(name) + ": expected an object");
  const auto fields = value.As<Napi::Object>();
  constexpr int64_t kMax = int64_t(1) << 40;
  NormShape shape;
  shape.samples = integer_field(fields, "samples", 1, kMax);
  shape.channels = integer_field(fields, "channels", 1, kMax);
  shape.spatial = integer_field(fields, "spatial", 1, kMax);
  shape.samples_per_unit = integer_field(fields, "samplesPerUnit", 1, kMax);
  shape.channels_per_unit = integer_field(fields, "channelsPerUnit", 1, kMax);
  shape.layout = choice_field(fields, "layout", {"NCHW", "NHWC"}) == 0 ? Layout::kNCHW : Layout::kNHWC;
  if (shape.samples % shape.samples_per_unit != 0) throw_range(args.Env(), "samplesPerUnit: must divide samples");
  if (shape.channels % shape.channels_per_unit != 0) throw_range(args.Env(), "channelsPerUnit: must divide channels");
  return shape;
}

void* device_field(const Napi::Object& args, const char* name, int64_t bytes) {
  const Napi::Value value = args.Get(name);
  if (!value.IsObject()) throw_type(args.Env(), std::string(name) + ": expected a device buffer ({ pointer: bigint, bytes })");
  const auto buffer = value.As<Napi::Object>();
  const Napi::Value pointer = buffer.Get("pointer"), size = buffer.Get("bytes");
  if (!pointer.IsBigInt() || !size.IsNumber())
    throw_type(args.Env(), std::string(name) + ": expected a device buffer ({ pointer: bigint, bytes })");
  const uint64_t address = bigint_value(pointer, name);
  if (address == 0) throw_range(args.Env(), std::string(name) + ": the device buffer has been freed");
  const double held = size.As<Napi::Number>().DoubleValue();
  if (!(held >= double(bytes)))
    throw_range(args.Env(), std::string(name) + ": the device buffer holds " + std::to_string(int64_t(held)) + " bytes, " +
                                std::to_string(bytes) + " needed");
  return reinterpret_cast<void*>(address);
}

}  // namespace kn::tools
