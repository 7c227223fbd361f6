// Host-side error handling of the CUDA backend: every CUDA call and launch is checked, and a
// failure becomes a CudaError naming the op and the CUDA error (the addon turns it into a
// JavaScript Error). Nothing here synchronizes.
#pragma once

#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

namespace kn::cuda {

class CudaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws CudaError("<op>: <what> failed: <cudaErrorName> (<description>)") unless status is success.
inline void check(cudaError_t status, const char* op, const char* what) {
  if (status == cudaSuccess) return;
  throw CudaError(std::string(op) + ": " + what + " failed: " + cudaGetErrorName(status) + " (" +
                  cudaGetErrorString(status) + ")");
}

// Checks the launch just queued (bad configuration, no device, ...).
inline void check_launch(const char* op, const char* kernel) { check(cudaGetLastError(), op, kernel); }

// Blocks of kBlockThreads for a one-thread-per-item kernel.
inline unsigned blocks_for(int64_t items, int threads) { return unsigned((items + threads - 1) / threads); }

}  // namespace kn::cuda
