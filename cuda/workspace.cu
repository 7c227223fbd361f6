#include "workspace.h"

#include <map>

#include "cuda_check.h"

namespace kn::cuda {
namespace {

struct StreamWorkspace {
  std::mutex lock;
  char* data = nullptr;
  size_t bytes = 0;
};

// Never destroyed: a stream's buffer lives as long as the process (streams handed in by a caller
// are not told to us when they end; each buffer is as large as the largest call on its stream).
// Made on first use, not at load (the emulated build instruments this file, see cmake/emulator.cmake).
struct Registry {
  std::mutex lock;
  std::map<cudaStream_t, StreamWorkspace> workspaces;  // std::map never moves its values
};

StreamWorkspace& workspace_of(cudaStream_t stream) {
  static Registry* registry = new Registry;
  std::lock_guard<std::mutex> lock(registry->lock);
  return registry->workspaces[stream];
}

}  // namespace

WorkspaceLease::WorkspaceLease(cudaStream_t stream, const WorkspaceLayout& layout, const char* op) {
  StreamWorkspace& workspace = workspace_of(stream);
  lock_ = std::unique_lock<std::mutex>(workspace.lock);
  if (workspace.bytes < layout.bytes()) {
    // Grow by half again, so that a run of slowly growing shapes allocates a few times, not each call.
    const size_t bytes = layout.bytes() > workspace.bytes * 3 / 2 ? layout.bytes() : workspace.bytes * 3 / 2;
    void* data = nullptr;
    check(cudaMallocAsync(&data, bytes, stream), op, "cudaMallocAsync (workspace)");
    const cudaError_t zeroed = cudaMemsetAsync(data, 0, 16, stream);
    if (zeroed != cudaSuccess) cudaFreeAsync(data, stream);
    check(zeroed, op, "cudaMemsetAsync (workspace ticket)");
    if (workspace.data) cudaFreeAsync(workspace.data, stream);  // after the kernels queued before, in stream order
    workspace.data = static_cast<char*>(data);
    workspace.bytes = bytes;
  }
  base_ = workspace.data;
}

}  // namespace kn::cuda
