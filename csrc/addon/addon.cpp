// The Node-API module: registers each group of entry points.
#include <napi.h>

#include "backend_dispatch.h"
#include "covariance_binding.h"
#include "kalman_norm_binding.h"
#include "transition_binding.h"
#include "runtime_binding.h"

namespace {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  kn::addon::register_kalman_norm(env, exports);
  kn::addon::register_runtime(env, exports);
  kn::addon::register_device(env, exports);
  kn::addon::register_transitions(env, exports);
  kn::addon::register_covariance(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(kalman_norm, init)
