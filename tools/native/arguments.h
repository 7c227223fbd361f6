// Reading the plain objects that tools/binding.ts passes, with a TypeError or RangeError naming
// the field. Independent of the product's csrc/addon/arguments.h: the tools addon sees the
// product's memory only as values ({ pointer: bigint, bytes } device buffers, bigint streams).
#pragma once

#include <napi.h>

#include <cstdint>
#include <initializer_list>
#include <string>

#include "csrc/common/norm_shape.h"

namespace kn::tools {

[[noreturn]] void throw_type(const Napi::Env& env, const std::string& message);
[[noreturn]] void throw_range(const Napi::Env& env, const std::string& message);

// The call's single argument, an object.
Napi::Object object_argument(const Napi::CallbackInfo& info);

double number_field(const Napi::Object& args, const char* name);

// An integer in [minimum, maximum].
int64_t integer_field(const Napi::Object& args, const char* name, int64_t minimum, int64_t maximum);

// One of `choices`; returns its index.
int choice_field(const Napi::Object& args, const char* name, std::initializer_list<const char*> choices);

// A bigint that fits 64 bits (a pointer, a stream or an event).
uint64_t bigint_value(const Napi::Value& value, const char* name);

// {samples, channels, spatial, layout: 'NCHW' | 'NHWC', samplesPerUnit, channelsPerUnit}.
NormShape shape_field(const Napi::Object& args, const char* name);

// The address of a device buffer object ({ pointer: bigint, bytes: number }) of at least `bytes`.
void* device_field(const Napi::Object& args, const char* name, int64_t bytes);

}  // namespace kn::tools
