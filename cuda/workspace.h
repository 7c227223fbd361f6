// The scratch memory of the CUDA ops: one device buffer per stream, grown on demand in stream
// order and kept, so that an op allocates nothing once its stream has seen a call of its size
// (and a whole training step can be captured into a CUDA graph). The buffer's first bytes hold the
// ticket counter of the kernels whose last block finishes the work (statistic_kernels.cuh): zero
// when the buffer is made, and set back to zero by each such kernel as it ends.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <mutex>

namespace kn::cuda {

// Where each piece of one op's scratch lies in the buffer (16-byte aligned, after the ticket).
class WorkspaceLayout {
 public:
  template <typename T>
  size_t add(int64_t count) {
    const size_t at = (bytes_ + 15) / 16 * 16;
    bytes_ = at + size_t(count > 0 ? count : 1) * sizeof(T);
    return at;
  }
  size_t bytes() const { return bytes_; }

 private:
  size_t bytes_ = 16;  // the ticket
};

// The stream's buffer, at least `layout.bytes()` long, for the op that queues its kernels while the
// lease lives: it holds the stream's lock, so two host threads queueing on one stream cannot
// interleave their use of the same memory.
class WorkspaceLease {
 public:
  WorkspaceLease(cudaStream_t stream, const WorkspaceLayout& layout, const char* op);
  WorkspaceLease(const WorkspaceLease&) = delete;
  WorkspaceLease& operator=(const WorkspaceLease&) = delete;

  template <typename T>
  T* at(size_t offset) const {
    return reinterpret_cast<T*>(base_ + offset);
  }
  unsigned* ticket() const { return reinterpret_cast<unsigned*>(base_); }

 private:
  std::unique_lock<std::mutex> lock_;
  char* base_ = nullptr;
};

}  // namespace kn::cuda
