// Device memory of the SIMT emulator: host memory from posix_memalign, filled with a NaN pattern
// when allocated and again when freed (freed blocks wait in a quarantine before they are reused,
// so a late read sees NaN, not another tensor), and the copies and memsets, queued on streams.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <map>
#include <memory>

#include "runtime_internal.h"
#include "scheduler.h"

namespace kn_emu {
namespace {

constexpr size_t kQuarantineBytes = size_t(256) << 20;

// Live device allocations by address, and freed ones waiting to be released.
// (Never destroyed: stream threads may still run at exit.)
std::mutex memory_lock;
std::map<const char*, size_t>& allocations = *new std::map<const char*, size_t>;
std::deque<std::pair<void*, size_t>>& quarantine = *new std::deque<std::pair<void*, size_t>>;
[[maybe_unused]] size_t quarantined_bytes = 0;

// Whether [pointer, pointer + bytes) lies in one live allocation.
bool device_range(const void* pointer, size_t bytes) {
  const char* start = static_cast<const char*>(pointer);
  std::lock_guard<std::mutex> lock(memory_lock);
  auto next = allocations.upper_bound(start);
  if (next == allocations.begin()) return false;
  const auto& [base, size] = *std::prev(next);
  return start >= base && size_t(start - base) + bytes <= size;
}

void* allocate(size_t bytes) {
  void* pointer = nullptr;
  if (posix_memalign(&pointer, 256, bytes ? bytes : 1) != 0) return nullptr;
  fill_nan(pointer, bytes);
  std::lock_guard<std::mutex> lock(memory_lock);
  allocations[static_cast<const char*>(pointer)] = bytes;
  ++allocation_count;
  return pointer;
}

void release(void* pointer) {
  size_t bytes = 0;
  {
    std::lock_guard<std::mutex> lock(memory_lock);
    auto found = allocations.find(static_cast<const char*>(pointer));
    if (found == allocations.end()) return;
    bytes = found->second;
    allocations.erase(found);
  }
  fill_nan(pointer, bytes);
#if defined(__SANITIZE_ADDRESS__)
  free(pointer);  // AddressSanitizer's own quarantine reports a use after free
#else
  std::lock_guard<std::mutex> lock(memory_lock);
  quarantine.emplace_back(pointer, bytes);
  quarantined_bytes += bytes;
  while (quarantined_bytes > kQuarantineBytes) {
    free(quarantine.front().first);
    quarantined_bytes -= quarantine.front().second;
    quarantine.pop_front();
  }
#endif
}

bool known_allocation(void* pointer) {
  std::lock_guard<std::mutex> lock(memory_lock);
  return allocations.count(static_cast<const char*>(pointer)) != 0;
}

}  // namespace

// Copies every live allocation (race mode).
std::vector<std::pair<char*, std::vector<char>>> snapshot_memory() {
  std::lock_guard<std::mutex> lock(memory_lock);
  std::vector<std::pair<char*, std::vector<char>>> copy;
  for (const auto& [base, size] : allocations) copy.emplace_back(const_cast<char*>(base), std::vector<char>(base, base + size));
  return copy;
}

}  // namespace kn_emu

using namespace kn_emu;

cudaError_t cudaMalloc(void** pointer, size_t bytes) {
  *pointer = allocate(bytes);
  return *pointer ? cudaSuccess : fail(cudaErrorMemoryAllocation);
}

cudaError_t cudaFree(void* pointer) {
  if (!pointer) return cudaSuccess;
  if (!known_allocation(pointer)) return fail(cudaErrorInvalidValue);
  cudaDeviceSynchronize();  // as CUDA's cudaFree does
  release(pointer);
  return cudaSuccess;
}

cudaError_t cudaMallocAsync(void** pointer, size_t bytes, cudaStream_t stream) {
  if (!find_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
  return cudaMalloc(pointer, bytes);
}

cudaError_t cudaFreeAsync(void* pointer, cudaStream_t stream) {
  CUstream_st* queue = find_stream(stream);
  if (!queue) return fail(cudaErrorInvalidResourceHandle);
  if (!pointer) return cudaSuccess;
  if (!known_allocation(pointer)) return fail(cudaErrorInvalidValue);
  queue->push([pointer] {
    std::lock_guard<std::mutex> lock(device_lock);
    release(pointer);
  });
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* target, const void* source, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  CUstream_st* queue = find_stream(stream);
  if (!queue) return fail(cudaErrorInvalidResourceHandle);
  if (bytes == 0) return cudaSuccess;
  const bool from_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  const bool to_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  if ((from_device && !device_range(source, bytes)) || (to_device && !device_range(target, bytes)) ||
      kind == cudaMemcpyDefault)
    return fail(cudaErrorInvalidValue);
  if (kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToHost) ++host_transfer_count;
  if (kind == cudaMemcpyHostToDevice) {
    // Pageable host memory is staged at the call, so the caller may reuse it on return.
    auto staged = std::make_shared<std::vector<char>>(static_cast<const char*>(source), static_cast<const char*>(source) + bytes);
    queue->push([target, staged] {
      std::lock_guard<std::mutex> lock(device_lock);
      memcpy(target, staged->data(), staged->size());
      written_bytes += staged->size();
    });
    return cudaSuccess;
  }
  auto done = std::make_shared<std::atomic<bool>>(false);
  queue->push([=] {
    {
      std::lock_guard<std::mutex> lock(device_lock);
      memmove(target, source, bytes);
      if (from_device) read_bytes += bytes;
      if (to_device) written_bytes += bytes;
    }
    done->store(true);
  });
  if (kind == cudaMemcpyDeviceToHost) {
    // Into pageable host memory the call returns once the copy is done, as CUDA's does.
    ++host_wait_count;
    while (!done->load()) std::this_thread::sleep_for(std::chrono::microseconds(20));
    return take_fault();
  }
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* target, const void* source, size_t bytes, cudaMemcpyKind kind) {
  const cudaError_t queued = cudaMemcpyAsync(target, source, bytes, kind, nullptr);
  if (queued != cudaSuccess) return queued;
  if (kind != cudaMemcpyDeviceToHost) ++host_wait_count;  // that one has counted its wait
  legacy_stream()->drain();
  return take_fault();
}

cudaError_t cudaMemsetAsync(void* target, int value, size_t bytes, cudaStream_t stream) {
  CUstream_st* queue = find_stream(stream);
  if (!queue) return fail(cudaErrorInvalidResourceHandle);
  if (bytes == 0) return cudaSuccess;
  if (!device_range(target, bytes)) return fail(cudaErrorInvalidValue);
  queue->push([=] {
    std::lock_guard<std::mutex> lock(device_lock);
    memset(target, value, bytes);
    written_bytes += bytes;
  });
  return cudaSuccess;
}

cudaError_t cudaMemset(void* target, int value, size_t bytes) {
  const cudaError_t queued = cudaMemsetAsync(target, value, bytes, nullptr);
  if (queued != cudaSuccess) return queued;
  ++host_wait_count;
  legacy_stream()->drain();
  return take_fault();
}
