#include "arguments.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

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

// An enum's number: an integer in [0, last].
int enum_field(const Napi::Object& args, const char* name, int last) {
  const double value = number_field(args, name);
  if (!(value >= 0 && value <= last) || value != std::floor(value))
    throw_range(args.Env(), std::string(name) + ": expected an integer in [0, " + std::to_string(last) + "]");
  return int(value);
}

bool absent(const Napi::Value& value) { return value.IsNull() || value.IsUndefined(); }

struct HostArray {
  napi_typedarray_type type;
  size_t length;  // in elements
  void* data;     // the first element
};

// A typed array's kind, length and data in one Node-API call (node-addon-api's TypedArray and
// TypedArrayOf each ask again, and each ask walks V8's typed array kinds); empty when `value` is
// not a typed array.
std::optional<HostArray> host_array(const Napi::Value& value) {
  HostArray array;
  if (napi_get_typedarray_info(value.Env(), value, &array.type, &array.length, &array.data, nullptr, nullptr) != napi_ok)
    return std::nullopt;
  return array;
}

// A Float32Array of exactly `length` elements.
float* host_floats(const Napi::Env& env, const Napi::Value& value, const char* name, int64_t length) {
  const std::optional<HostArray> array = host_array(value);
  if (!array || array->type != napi_float32_array) throw_type(env, std::string(name) + ": expected a Float32Array");
  if (int64_t(array->length) != length)
    throw_range(env, std::string(name) + ": expected " + std::to_string(length) + " elements, got " +
                         std::to_string(array->length));
  return static_cast<float*>(array->data);
}

// A device buffer of at least `bytes` bytes.
void* device_bytes(const Napi::Value& value, const char* name, int64_t bytes) {
  const DeviceRange range = device_range(value, name);
  if (range.bytes < bytes)
    throw_range(value.Env(), std::string(name) + ": expected a device buffer of at least " + std::to_string(bytes) +
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
  const double device = number_field(args, "device");
  if (device != 0 && device != 1) throw_range(args.Env(), "device: expected 0 (cpu) or 1 (cuda)");
  where.on_device = device == 1;
  where.dtype = DType(enum_field(args, "dtype", int(DType::kBFloat16)));
  if (!where.on_device && where.dtype != DType::kFloat32)
    throw_range(args.Env(), "dtype: the CPU backend takes float32 tensors only");
  return where;
}

Napi::Object object_field(const Napi::Object& args, const char* name) {
  const Napi::Value value = args.Get(name);
  if (!value.IsObject()) throw_type(args.Env(), std::string(name) + ": expected an object");
  return value.As<Napi::Object>();
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

namespace {

// A typed array of exactly `length` elements of kType (on the host), or a device buffer of as many bytes.
template <typename T, napi_typedarray_type kType>
T* typed_field(const Napi::Object& args, const char* name, int64_t length, const Placement& where, const char* expected) {
  const Napi::Value value = args.Get(name);
  if (where.on_device) return static_cast<T*>(device_bytes(value, name, length * int64_t(sizeof(T))));
  const std::optional<HostArray> array = host_array(value);
  if (!array || array->type != kType) throw_type(args.Env(), std::string(name) + ": expected " + expected);
  if (int64_t(array->length) != length)
    throw_range(args.Env(), std::string(name) + ": expected " + std::to_string(length) + " elements");
  return static_cast<T*>(array->data);
}

}  // namespace

int* int_field(const Napi::Object& args, const char* name, int64_t length, const Placement& where) {
  return typed_field<int, napi_int32_array>(args, name, length, where, "an Int32Array");
}

double* double_field(const Napi::Object& args, const char* name, int64_t length, const Placement& where) {
  return typed_field<double, napi_float64_array>(args, name, length, where, "a Float64Array");
}

ConstTensor const_tensor_field(const Napi::Object& args, const char* name, int64_t elements, bool required,
                               const Placement& where) {
  const MutableTensor tensor = tensor_field(args, name, elements, required, where);
  return ConstTensor{tensor.data, tensor.dtype};
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
  shape.layout = Layout(enum_field(fields, "layout", int(Layout::kNHWC)));
  if (shape.samples % shape.samples_per_unit != 0)
    throw_range(args.Env(), "samplesPerUnit: must divide samples");
  if (shape.channels % shape.channels_per_unit != 0)
    throw_range(args.Env(), "channelsPerUnit: must divide channels");
  return shape;
}

UnitValues unit_values_field(const Napi::Object& args, const char* name, const NormShape& shape,
                             bool required, const Placement& where) {
  UnitValues result;
  const Napi::Value value = args.Get(name);
  if (!required && absent(value)) return result;
  const Napi::Object fields = object_field(args, name);
  result.spread = UnitValues::Spread(enum_field(fields, "spread", int(UnitValues::Spread::kScalar)));
  result.values = float_field(fields, "values", spread_length(result, shape), true, where);
  return result;
}

int64_t spread_length(const UnitValues& values, const NormShape& shape) {
  switch (values.spread) {
    case UnitValues::Spread::kScalar: return 1;
    case UnitValues::Spread::kPerColumn: return shape.unit_cols();
    default: return shape.units();
  }
}

DeviceRange device_range(const Napi::Value& value, const char* name) {
  if (!value.IsObject()) throw_type(value.Env(), std::string(name) + ": expected a device buffer");
  const auto object = value.As<Napi::Object>();
  const Napi::Value pointer = object.Get("pointer");
  const Napi::Value bytes = object.Get("bytes");
  if (!pointer.IsBigInt() || !bytes.IsNumber()) throw_type(value.Env(), std::string(name) + ": expected a device buffer");
  bool lossless = true;
  const uint64_t address = pointer.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless || address == 0) throw_range(value.Env(), std::string(name) + ": the device buffer has been freed");
  return DeviceRange{reinterpret_cast<void*>(address), int64_t(bytes.As<Napi::Number>().DoubleValue())};
}

void MemoryRanges::add(const char* name, const void* begin, int64_t bytes, bool output) {
  if (begin == nullptr || bytes <= 0) return;
  const auto first = reinterpret_cast<uintptr_t>(begin);
  ranges_.push_back(Range{name, first, first + uintptr_t(bytes), output});
}

void MemoryRanges::check(const Napi::Env& env) const {
  for (size_t i = 0; i < ranges_.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      const Range& a = ranges_[i];
      const Range& b = ranges_[j];
      if (!a.output && !b.output) continue;
      if (!(a.begin < b.end && b.begin < a.end)) continue;  // before the names: overlaps are rare
      if (std::strcmp(a.name, b.name) == 0) continue;
      const Range& output = a.output ? a : b;  // the message names an output first
      const Range& other = a.output ? b : a;
      throw_range(env, std::string(output.name) + ": must not share memory with " + other.name);
    }
  }
}

}  // namespace kn::addon
