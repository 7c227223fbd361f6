// Reading the fields of the plain objects that lib/binding.ts passes to the addon. The public
// API (lib/) validates arguments with user-facing messages first; these checks are the last line
// that keeps a bad call from reading or writing out of bounds: each throws a TypeError or
// RangeError that names the field.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

#include "../cpu/kalman_norm.h"

namespace kn::addon {

Napi::Object object_argument(const Napi::CallbackInfo& info);

double number_field(const Napi::Object& args, const char* name);
bool boolean_field(const Napi::Object& args, const char* name);

// A Float32Array field of exactly `length` elements; null when the field is null or undefined
// and `required` is false.
float* float_array_field(const Napi::Object& args, const char* name, int64_t length, bool required);

// {samples, channels, spatial, layout: 'NCHW' | 'NHWC', samplesPerUnit, channelsPerUnit}.
NormShape shape_field(const Napi::Object& args, const char* name);

// A per-unit / per-column / scalar Float32Array with its spread given in `<name>Spread`
// ('unit' | 'column' | 'scalar'); absent when the array is null and `required` is false.
UnitValues unit_values_field(const Napi::Object& args, const char* name, const NormShape& shape,
                             bool required);

// The length an output with the same spread as `values` must have.
int64_t spread_length(const UnitValues& values, const NormShape& shape);

}  // namespace kn::addon
