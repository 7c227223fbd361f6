// Reading the plain objects that tools/binding.ts passes, with a TypeError or RangeError naming
// the field: the product's readers (csrc/addon/arguments.h: the argument object, numbers, shapes,
// device buffers) and what only the tools read. The tools addon sees the product's memory only as
// values ({ pointer: bigint, bytes } device buffers, bigint streams).
#pragma once

#include <napi.h>

#include <cstdint>
#include <initializer_list>
#include <string>

#include "csrc/addon/arguments.h"

namespace kn::tools {

using addon::number_field;
using addon::object_argument;
using addon::shape_field;  // {samples, channels, spatial, layout: LAYOUT_CODE, samplesPerUnit, channelsPerUnit}

[[noreturn]] void throw_type(const Napi::Env& env, const std::string& message);
[[noreturn]] void throw_range(const Napi::Env& env, const std::string& message);

// An integer in [minimum, maximum].
int64_t integer_field(const Napi::Object& args, const char* name, int64_t minimum, int64_t maximum);

// One of `choices`; returns its index.
int choice_field(const Napi::Object& args, const char* name, std::initializer_list<const char*> choices);

// A bigint that fits 64 bits (a pointer, a stream or an event).
uint64_t bigint_value(const Napi::Value& value, const char* name);

// The address of a device buffer object ({ pointer: bigint, bytes: number }) of at least `bytes`.
void* device_field(const Napi::Object& args, const char* name, int64_t bytes);

}  // namespace kn::tools
