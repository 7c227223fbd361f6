// Reading the fields of the plain objects that lib/binding.ts passes to the addon. The public
// API (lib/) validates arguments with user-facing messages first; these checks are the last line
// that keeps a bad call from reading or writing out of bounds: each throws a TypeError or
// RangeError that names the field.
//
// Memory arrives as a Float32Array on the CPU, and on CUDA as a device buffer object
// ({ pointer: bigint, bytes: number }, see device_memory.h) of the call's dtype.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../common/kalman_norm_call.h"

namespace kn::addon {

// Where one call's memory lives: host (Float32Array) or device (buffer objects).
struct Placement {
  bool on_device = false;
  DType dtype = DType::kFloat32;  // of the tensors (x, y, dy, dx, residual); statistics are float32
};

Napi::Object object_argument(const Napi::CallbackInfo& info);

double number_field(const Napi::Object& args, const char* name);
bool boolean_field(const Napi::Object& args, const char* name);

// `device` (0: cpu, 1: cuda) and `dtype` (DType's number).
Placement placement_fields(const Napi::Object& args);

// A nested object.
Napi::Object object_field(const Napi::Object& args, const char* name);

// A float32 array of exactly `length` elements; null when the field is null or undefined and
// `required` is false.
float* float_field(const Napi::Object& args, const char* name, int64_t length, bool required,
                   const Placement& where);

// An int32 array of exactly `length` elements (an Int32Array, or a device buffer), required.
int* int_field(const Napi::Object& args, const char* name, int64_t length, const Placement& where);

// A float64 array of exactly `length` elements (a Float64Array, or a device buffer), required.
double* double_field(const Napi::Object& args, const char* name, int64_t length, const Placement& where);

// A tensor of `elements` elements of the call's dtype; absent when null/undefined and not required.
MutableTensor tensor_field(const Napi::Object& args, const char* name, int64_t elements, bool required,
                           const Placement& where);
ConstTensor const_tensor_field(const Napi::Object& args, const char* name, int64_t elements, bool required,
                               const Placement& where);

// {samples, channels, spatial, layout: Layout's number, samplesPerUnit, channelsPerUnit}.
NormShape shape_field(const Napi::Object& args, const char* name);

// {values, spread: UnitValues::Spread's number}: a per-unit / per-column / scalar float32 array;
// absent when the field is null and `required` is false.
UnitValues unit_values_field(const Napi::Object& args, const char* name, const NormShape& shape,
                             bool required, const Placement& where);

// The length an output with the same spread as `values` must have.
int64_t spread_length(const UnitValues& values, const NormShape& shape);

// The device address and size of a device buffer object.
struct DeviceRange {
  void* pointer = nullptr;
  int64_t bytes = 0;
};
DeviceRange device_range(const Napi::Value& value, const char* name);

// The memory one call reads and writes (host addresses on the CPU, device addresses on CUDA), by
// the names of the user's arguments: no output may share a byte with another output or with an
// input (inputs may share memory with each other; an output that is also read, like runningMean,
// is an output). Ranges of one name are one argument's pieces and are not compared. Null ranges
// (absent optional fields) are skipped.
class MemoryRanges {
 public:
  MemoryRanges() { ranges_.reserve(32); }  // a KN call has up to 22 ranges: one allocation, not six
  void input(const char* name, const void* begin, int64_t bytes) { add(name, begin, bytes, false); }
  void output(const char* name, const void* begin, int64_t bytes) { add(name, begin, bytes, true); }
  // Throws a RangeError "<output>: must not share memory with <other>" for the first such pair.
  void check(const Napi::Env& env) const;

 private:
  struct Range {
    const char* name;
    uintptr_t begin;
    uintptr_t end;
    bool output;
  };
  void add(const char* name, const void* begin, int64_t bytes, bool output);
  std::vector<Range> ranges_;
};

}  // namespace kn::addon
