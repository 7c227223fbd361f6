#include "arguments.h"

#include <cmath>

namespace kn::tools {

void throw_type(const Napi::Env& env, const std::string& message) { throw Napi::TypeError::New(env, message); }

void throw_range(const Napi::Env& env, const std::string& message) { throw Napi::RangeError::New(env, message); }

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

void* device_field(const Napi::Object& args, const char* name, int64_t bytes) {
  const addon::DeviceRange range = addon::device_range(args.Get(name), name);
  if (range.bytes < bytes)
    throw_range(args.Env(), std::string(name) + ": the device buffer holds " + std::to_string(range.bytes) + " bytes, " +
                                std::to_string(bytes) + " needed");
  return range.pointer;
}

}  // namespace kn::tools
