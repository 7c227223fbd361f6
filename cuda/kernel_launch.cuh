// The one way a kernel is launched and the one way dynamic shared memory is declared, so that the
// same kernel files compile under nvcc and, as plain C++, under the SIMT emulator
// (csrc/emulator/, KN_CUDA=emulate):
//   launch_kernel(kernel, grid, block, shared_bytes, stream, args...)   // kernel<<<grid, block, shared_bytes, stream>>>(args...)
//   launch_cooperative_kernel(kernel, grid, block, shared_bytes, stream, args...)  // with a grid-wide sync
//   KN_DYNAMIC_SHARED(type, name);   // extern __shared__ __align__(16) type name[];
#pragma once

#include <cuda_runtime_api.h>

#include <tuple>
#include <type_traits>

#if defined(__CUDACC__)

#define KN_DYNAMIC_SHARED(type, name) extern __shared__ __align__(16) type name[]

namespace kn::cuda {

template <typename... Params, typename... Args>
void launch_kernel(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
                   Args&&... args) {
  kernel<<<grid, block, shared_bytes, stream>>>(static_cast<Args&&>(args)...);
}

template <typename... Params, typename... Args>
void launch_cooperative_kernel(void (*kernel)(Params...), dim3 grid, dim3 block, size_t shared_bytes,
                               cudaStream_t stream, Args&&... args) {
  std::tuple<std::decay_t<Params>...> values{static_cast<Args&&>(args)...};  // the kernel's own parameter types
  std::apply([&](auto&... value) {
    void* pointers[] = {static_cast<void*>(&value)..., nullptr};
    cudaLaunchCooperativeKernel(reinterpret_cast<const void*>(kernel), grid, block, pointers, shared_bytes, stream);
  }, values);
}

}  // namespace kn::cuda

#else  // the SIMT emulator: the same calls, with the launch site recorded for its reports

#define KN_DYNAMIC_SHARED(type, name) type* const name = kn_emu::dynamic_shared<type>()

namespace kn::cuda {
using kn_emu::launch_cooperative_kernel;
using kn_emu::launch_kernel;
}  // namespace kn::cuda

#endif
