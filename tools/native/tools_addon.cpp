// The Node-API module of the tools addon: the CPU tools everywhere, the CUDA ones in CUDA builds.
#include <napi.h>

#include "tools.h"

namespace {

Napi::Object init(Napi::Env env, Napi::Object exports) {
  kn::tools::register_plan_coverage(env, exports);
  kn::tools::register_parallel_copy(env, exports);
  kn::tools::register_pool_failure(env, exports);
#ifdef KN_TOOLS_WITH_CUDA
  kn::tools::register_cuda_timing(env, exports);
  kn::tools::register_cudnn_peer(env, exports);
  exports.Set("cudaBuilt", true);
#else
  exports.Set("cudaBuilt", false);
#endif
  return exports;
}

}  // namespace

NODE_API_MODULE(kalman_norm_tools, init)
