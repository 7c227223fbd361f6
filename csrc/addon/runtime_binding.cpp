#include "runtime_binding.h"

#include "../cpu/thread_pool.h"

namespace kn::addon {
namespace {

Napi::Value thread_count(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), kn::thread_count());
}

}  // namespace

void register_runtime(Napi::Env env, Napi::Object exports) {
  exports.Set("threadCount", Napi::Function::New(env, thread_count, "threadCount"));
}

}  // namespace kn::addon
