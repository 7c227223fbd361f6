// GPU memory and transfers for the addon (CUDA builds only): device buffers as JavaScript
// objects, this package's stream per device, copies, and cudaInfo().
#pragma once

#include <cuda_runtime_api.h>
#include <napi.h>

#include <cstdint>

namespace kn::addon {

// `stream` 0 means this package's own stream for the device (created on first use).
cudaStream_t cuda_stream(int device, uint64_t stream);

// Queues on `later` a wait for everything queued on `earlier` so far; throws CudaError.
void order_after(cudaStream_t later, cudaStream_t earlier);

// Adds cudaInfo, deviceAlloc, deviceWrap, copyToDevice, copyToHost, copyToHostAsync, zeroDevice,
// copyDeviceToDevice, synchronize, streamCreate and streamDestroy to the exports.
void register_device_memory(Napi::Env env, Napi::Object exports);

}  // namespace kn::addon
