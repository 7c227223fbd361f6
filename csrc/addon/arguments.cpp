#include "arguments.h"

#include <cmath>
#include <limits>

namespace kn::addon {
namespace {

[[noreturn]] void throw_type(const Napi::Env& env, const std::string& message) {
  throw Napi::TypeError::New(env, message);
}

[[noreturn]] void throw_range(const Napi::Env& env, const std::string& message) {
  throw Napi::RangeError::New(env, message);
}

int64_t positive_integer_field(const Napi::Object& args, const char* name) {
  const double value = number_field(args, name);
  if (!(value >= 1) || value != std::floor(value) || value > double(std::numeric_limits<int32_t>::max()) * 64)
    throw_range(args.Env(), std::string(name) + ": expected a positive integer, got " + std::to_string(value));
  return int64_t(value);
}

}  // namespace

Napi::Object object_argument(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsObject()) throw_type(info.Env(), "args: expected an object");
  return info[0].As<Napi::Object>();
}

double number_field(const Napi::Object& args, const char* name) {
  const Napi::Value value = args.Get(name);
  if (!value.IsNumber()) throw_type(args.Env(), std::string(name) + ": expected a number");
  return value.As<Napi::Number>().DoubleValue();
}

bool boolean_field(const Napi::Object& args, const char* name) {
  const Napi::Value value = args.Get(name);
  if (!value.IsBoolean()) throw_type(args.Env(), std::string(name) + ": expected a boolean");
  return value.As<Napi::Boolean>().Value();
}

float* float_array_field(const Napi::Object& args, const char* name, int64_t length, bool required) {
  const Napi::Value value = args.Get(name);
  if (value.IsNull() || value.IsUndefined()) {
    if (required) throw_type(args.Env(), std::string(name) + ": expected a Float32Array, got nothing");
    return nullptr;
  }
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_type(args.Env(), std::string(name) + ": expected a Float32Array");
  auto array = value.As<Napi::Float32Array>();
  if (int64_t(array.ElementLength()) != length)
    throw_range(args.Env(), std::string(name) + ": expected " + std::to_string(length) +
                                " elements, got " + std::to_string(array.ElementLength()));
  return array.Data();
}

NormShape shape_field(const Napi::Object& args, const char* name) {
  const Napi::Value value = args.Get(name);
  if (!value.IsObject()) throw_type(args.Env(), std::string(name) + ": expected an object");
  const auto fields = value.As<Napi::Object>();
  NormShape shape;
  shape.samples = positive_integer_field(fields, "samples");
  shape.channels = positive_integer_field(fields, "channels");
  shape.spatial = positive_integer_field(fields, "spatial");
  shape.samples_per_unit = positive_integer_field(fields, "samplesPerUnit");
  shape.channels_per_unit = positive_integer_field(fields, "channelsPerUnit");
  const Napi::Value layout = fields.Get("layout");
  const std::string layout_name = layout.IsString() ? layout.As<Napi::String>().Utf8Value() : "";
  if (layout_name == "NCHW") shape.layout = Layout::kNCHW;
  else if (layout_name == "NHWC") shape.layout = Layout::kNHWC;
  else throw_range(args.Env(), "layout: expected 'NCHW' or 'NHWC'");
  if (shape.samples % shape.samples_per_unit != 0)
    throw_range(args.Env(), "samplesPerUnit: must divide samples");
  if (shape.channels % shape.channels_per_unit != 0)
    throw_range(args.Env(), "channelsPerUnit: must divide channels");
  return shape;
}

UnitValues unit_values_field(const Napi::Object& args, const char* name, const NormShape& shape,
                             bool required) {
  UnitValues result;
  const std::string spread_name = std::string(name) + "Spread";
  const Napi::Value spread = args.Get(spread_name);
  const std::string spread_text = spread.IsString() ? spread.As<Napi::String>().Utf8Value() : "";
  if (spread_text == "unit") result.spread = UnitValues::Spread::kPerUnit;
  else if (spread_text == "column") result.spread = UnitValues::Spread::kPerColumn;
  else if (spread_text == "scalar") result.spread = UnitValues::Spread::kScalar;
  else if (!required && (spread.IsNull() || spread.IsUndefined())) return result;
  else throw_range(args.Env(), spread_name + ": expected 'unit', 'column' or 'scalar'");
  result.values = float_array_field(args, name, spread_length(result, shape), true);
  return result;
}

int64_t spread_length(const UnitValues& values, const NormShape& shape) {
  switch (values.spread) {
    case UnitValues::Spread::kScalar: return 1;
    case UnitValues::Spread::kPerColumn: return shape.unit_cols();
    default: return shape.units();
  }
}

}  // namespace kn::addon
