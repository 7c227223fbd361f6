#include "runtime_binding.h"

#include "../cpu/thread_pool.h"
#include "../cpu/vector_width.h"

namespace kn::addon {
namespace {

Napi::Value thread_count(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), kn::thread_count());
}

Napi::Value cpu_vector_width(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), kn::cpu_vector_width());
}

}  // namespace

void register_runtime(Napi::Env env, Napi::Object exports) {
  exports.Set("threadCount", Napi::Function::New(env, thread_count, "threadCount"));
  exports.Set("cpuVectorWidth", Napi::Function::New(env, cpu_vector_width, "cpuVectorWidth"));
}

}  // namespace kn::addon
