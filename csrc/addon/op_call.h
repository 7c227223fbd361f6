// Reading one call of the small statistic ops (transitions, covariance): its context, sizes and
// float32 buffers by name and length (field names as in lib/ops).
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

#include "arguments.h"
#include "backend_dispatch.h"

namespace kn::addon {

inline int64_t size_field(const Napi::Object& args, const char* name) {
  const double value = number_field(args, name);
  if (!(value >= 1) || value != double(int64_t(value)))
    throw Napi::RangeError::New(args.Env(), std::string(name) + ": expected a positive integer");
  return int64_t(value);
}

struct Call {
  Napi::Object args;
  CallContext context;
  explicit Call(const Napi::CallbackInfo& info) : args(object_argument(info)), context(call_context(args)) {}
  float* in(const char* name, int64_t length) const { return float_field(args, name, length, true, context.where); }
  float* optional(const char* name, int64_t length) const { return float_field(args, name, length, false, context.where); }
  // A noise given per column or as one scalar: `<name>Spread` is UnitValues::Spread's number.
  bool per_column(const char* name) const {
    const Napi::Value spread = args.Get(std::string(name) + "Spread");
    return !spread.IsNumber() || spread.As<Napi::Number>().Int32Value() != int(UnitValues::Spread::kScalar);
  }
  float* spread(const char* name, int64_t columns) const { return optional(name, per_column(name) ? columns : 1); }
  Napi::Value done() const { return args.Env().Undefined(); }
};

}  // namespace kn::addon
