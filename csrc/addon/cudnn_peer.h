// cuDNN batch normalization as the benchmark's peer (CUDA builds only). cuDNN is loaded at run
// time with dlopen (KN_CUDNN_PATH, else the system's libcudnn), so the package builds and installs
// without it; benchmarks report when it is missing.
#pragma once

#include <napi.h>

namespace kn::addon {

// Adds cudnnInfo() and cudnnBatchNorm(args) to the exports.
void register_cudnn_peer(Napi::Env env, Napi::Object exports);

}  // namespace kn::addon
