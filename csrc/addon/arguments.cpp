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
  if (!(value >= 1) || value != std::floor(value) || value > double(std::numeric_limits<int64_t>::max() / 4))
    throw_range(args.Env(), std::string(name) + ": expected a positive integer, got " + std::to_string(value));
  return int64_t(value);
}

std::string string_field(const Napi::Object& args, const char* name) {
  const Napi::Value value = args.Get(name);
  return value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
}

bool absent(const Napi::Value& value) { return value.IsNull() || value.IsUndefined(); }

// A Float32Array of exactly `length` elements.
float* host_floats(const Napi::Env& env, const Napi::Value& value, const std::string& name, int64_t length) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_type(env, name + ": expected a Float32Array");
  auto array = value.As<Napi::Float32Array>();
  if (int64_t(array.ElementLength()) != length)
    throw_range(env, name + ": expected " + std::to_string(length) + " elements, got " +
                         std::to_string(array.ElementLength()));
  return array.Data();
}

// A device buffer of at least `bytes` bytes.
void* device_bytes(const Napi::Value& value, const std::string& name, int64_t bytes) {
  const DeviceRange range = device_range(value, name);
  if (range.bytes < bytes)
    throw_range(value.Env(), name + ": expected a device buffer of at least " + std::to_string(bytes) +
                                 " bytes, got " + std::to_string(range.bytes));
  return range.pointer;
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

Placement placement_fields(const Napi::Object& args) {
  Placement where;
  const std::string device = string_field(args, "device");
  if (device == "cuda") where.on_device = true;
  else if (device != "cpu") throw_range(args.Env(), "device: expected 'cpu' or 'cuda'");
  const std::string dtype = string_field(args, "dtype");
  if (dtype == "float16") where.dtype = DType::kFloat16;
  else if (dtype == "bfloat16") where.dtype = DType::kBFloat16;
  else if (dtype != "float32") throw_range(args.Env(), "dtype: expected 'float32', 'float16' or 'bfloat16'");
  if (!where.on_device && where.dtype != DType::kFloat32)
    throw_range(args.Env(), "dtype: the CPU backend takes float32 tensors only");
  return where;
}

float* float_field(const Napi::Object& args, const char* name, int64_t length, bool required,
                   const Placement& where) {
  const Napi::Value value = args.Get(name);
  if (absent(value)) {
    if (required) throw_type(args.Env(), std::string(name) + ": expected a float32 array, got nothing");
    return nullptr;
  }
  if (where.on_device) return static_cast<float*>(device_bytes(value, name, length * 4));
  return host_floats(args.Env(), value, name, length);
}

MutableTensor tensor_field(const Napi::Object& args, const char* name, int64_t elements, bool required,
                           const Placement& where) {
  const Napi::Value value = args.Get(name);
  MutableTensor tensor;
  tensor.dtype = where.dtype;
  if (absent(value)) {
    if (required) throw_type(args.Env(), std::string(name) + ": expected a tensor, got nothing");
    return tensor;
  }
  tensor.data = where.on_device ? device_bytes(value, name, elements * dtype_bytes(where.dtype))
                                : host_floats(args.Env(), value, name, elements);
  return tensor;
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
  const std::string layout = string_field(fields, "layout");
  if (layout == "NCHW") shape.layout = Layout::kNCHW;
  else if (layout == "NHWC") shape.layout = Layout::kNHWC;
  else throw_range(args.Env(), "layout: expected 'NCHW' or 'NHWC'");
  if (shape.samples % shape.samples_per_unit != 0)
    throw_range(args.Env(), "samplesPerUnit: must divide samples");
  if (shape.channels % shape.channels_per_unit != 0)
    throw_range(args.Env(), "channelsPerUnit: must divide channels");
  return shape;
}

UnitValues unit_values_field(const Napi::Object& args, const char* name, const NormShape& shape,
                             bool required, const Placement& where) {
  UnitValues result;
  const std::string spread_name = std::string(name) + "Spread";
  const Napi::Value spread = args.Get(spread_name);
  const std::string spread_text = string_field(args, spread_name.c_str());
  if (spread_text == "unit") result.spread = UnitValues::Spread::kPerUnit;
  else if (spread_text == "column") result.spread = UnitValues::Spread::kPerColumn;
  else if (spread_text == "scalar") result.spread = UnitValues::Spread::kScalar;
  else if (!required && absent(spread)) return result;
  else throw_range(args.Env(), spread_name + ": expected 'unit', 'column' or 'scalar'");
  result.values = float_field(args, name, spread_length(result, shape), true, where);
  return result;
}

int64_t spread_length(const UnitValues& values, const NormShape& shape) {
  switch (values.spread) {
    case UnitValues::Spread::kScalar: return 1;
    case UnitValues::Spread::kPerColumn: return shape.unit_cols();
    default: return shape.units();
  }
}

DeviceRange device_range(const Napi::Value& value, const std::string& name) {
  if (!value.IsObject()) throw_type(value.Env(), name + ": expected a device buffer");
  const auto object = value.As<Napi::Object>();
  const Napi::Value pointer = object.Get("pointer");
  const Napi::Value bytes = object.Get("bytes");
  if (!pointer.IsBigInt() || !bytes.IsNumber()) throw_type(value.Env(), name + ": expected a device buffer");
  bool lossless = true;
  const uint64_t address = pointer.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless || address == 0) throw_range(value.Env(), name + ": the device buffer has been freed");
  return DeviceRange{reinterpret_cast<void*>(address), int64_t(bytes.As<Napi::Number>().DoubleValue())};
}

}  // namespace kn::addon
