// The CUDA runtime of the SIMT emulator. Device memory is host memory from posix_memalign, filled
// with a NaN pattern when allocated and again when freed (freed blocks wait in a quarantine before
// they are reused, so a late read sees NaN, not another tensor). Each stream is a host thread
// running its queue in order; kernels, copies and memsets take one device lock, so one runs at a
// time, in an order the streams and events allow. A fault in a kernel is printed and returned by
// the next synchronizing call (then cleared).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "diagnostics.h"
#include "runtime_api.h"
#include "scheduler.h"
#include "traffic.h"

struct CUevent_st {
  std::mutex mutex;
  std::condition_variable changed;
  uint64_t recorded = 0;   // records issued
  uint64_t completed = 0;  // records the stream reached
  std::chrono::steady_clock::time_point time;
  bool timing = true;
};

struct CUstream_st {
  explicit CUstream_st() : worker([this] { work(); }) {}
  ~CUstream_st() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stop = true;
    }
    changed.notify_all();
    worker.join();
  }

  void push(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      queue.push_back(std::move(task));
    }
    changed.notify_all();
  }

  void drain() {
    std::unique_lock<std::mutex> lock(mutex);
    changed.wait(lock, [this] { return queue.empty() && !busy; });
  }

  bool idle() {
    std::lock_guard<std::mutex> lock(mutex);
    return queue.empty() && !busy;
  }

  std::atomic<unsigned> delay_us{0};

 private:
  void work() {
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
      changed.wait(lock, [this] { return stop || !queue.empty(); });
      if (queue.empty()) return;
      std::function<void()> task = std::move(queue.front());
      queue.pop_front();
      busy = true;
      lock.unlock();
      if (const unsigned delay = delay_us.load()) std::this_thread::sleep_for(std::chrono::microseconds(delay));
      task();
      lock.lock();
      busy = false;
      changed.notify_all();
    }
  }

  std::mutex mutex;
  std::condition_variable changed;
  std::deque<std::function<void()>> queue;
  bool busy = false;
  bool stop = false;
  std::thread worker;
};

namespace kn_emu {
namespace {

constexpr size_t kQuarantineBytes = size_t(256) << 20;

std::mutex device_lock;  // one kernel, copy or memset at a time

std::atomic<uint64_t> launch_count{0}, allocation_count{0}, read_bytes{0}, written_bytes{0};
std::atomic<bool> race_mode{getenv("KN_EMULATE_RACE") && strcmp(getenv("KN_EMULATE_RACE"), "1") == 0};

thread_local cudaError_t last_error = cudaSuccess;
thread_local int current_device = 0;

std::mutex fault_lock;
cudaError_t pending_fault = cudaSuccess;
const char* fault_text = "";

void report_fault(cudaError_t code, const std::string& what) {
  fprintf(stderr, "kalman-norm CUDA emulator: %s\n", what.c_str());
  std::lock_guard<std::mutex> lock(fault_lock);
  pending_fault = code;
  fault_text = strdup(what.c_str());  // kept: cudaGetErrorString may hand it out at any time
}

// A synchronizing call returns a kernel fault once.
cudaError_t take_fault() {
  std::lock_guard<std::mutex> lock(fault_lock);
  const cudaError_t fault = pending_fault;
  pending_fault = cudaSuccess;
  return fault;
}

cudaError_t fail(cudaError_t error) {
  last_error = error;
  return error;
}

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

// Streams and events are handed out as raw handles; these keep the objects and check handles.
std::mutex handle_lock;
std::map<CUstream_st*, std::unique_ptr<CUstream_st>>& streams = *new std::map<CUstream_st*, std::unique_ptr<CUstream_st>>;
std::map<CUevent_st*, std::shared_ptr<CUevent_st>>& events = *new std::map<CUevent_st*, std::shared_ptr<CUevent_st>>;

CUstream_st* legacy_stream() {
  static CUstream_st* stream = [] {
    auto owned = std::make_unique<CUstream_st>();
    CUstream_st* raw = owned.get();
    std::lock_guard<std::mutex> lock(handle_lock);
    streams[raw] = std::move(owned);
    return raw;
  }();
  return stream;
}

CUstream_st* find_stream(cudaStream_t stream) {
  if (!stream) return legacy_stream();
  std::lock_guard<std::mutex> lock(handle_lock);
  return streams.count(stream) ? stream : nullptr;
}

std::shared_ptr<CUevent_st> find_event(cudaEvent_t event) {
  std::lock_guard<std::mutex> lock(handle_lock);
  auto found = events.find(event);
  return found == events.end() ? nullptr : found->second;
}

// Copies every live allocation (race mode).
std::vector<std::pair<char*, std::vector<char>>> snapshot() {
  std::lock_guard<std::mutex> lock(memory_lock);
  std::vector<std::pair<char*, std::vector<char>>> copy;
  for (const auto& [base, size] : allocations) copy.emplace_back(const_cast<char*>(base), std::vector<char>(base, base + size));
  return copy;
}

void run_launch(const KernelLaunch& launch) {
  std::lock_guard<std::mutex> lock(device_lock);
  ++launch_count;
  if (!race_mode) {
    const std::string failure = run_grid(launch, ThreadOrder::kAscending);
    uint64_t read = 0, written = 0;
    take_kernel_traffic(read, written);
    read_bytes += read;
    written_bytes += written;
    if (!failure.empty()) report_fault(cudaErrorLaunchFailure, failure);
    return;
  }
  auto before = snapshot();
  std::string failure = run_grid(launch, ThreadOrder::kAscending);
  if (!failure.empty()) return report_fault(cudaErrorLaunchFailure, failure);
  auto ascending = snapshot();
  for (auto& [base, bytes] : before) memcpy(base, bytes.data(), bytes.size());
  failure = run_grid(launch, ThreadOrder::kDescending);
  uint64_t read = 0, written = 0;
  take_kernel_traffic(read, written);  // two runs: the counters take one
  read_bytes += read / 2;
  written_bytes += written / 2;
  if (!failure.empty()) return report_fault(cudaErrorLaunchFailure, failure);
  for (const auto& [base, bytes] : ascending)
    for (size_t i = 0; i < bytes.size(); ++i)
      if (base[i] != bytes[i]) {
        return report_fault(cudaErrorLaunchFailure,
                            "race: what the kernel launched at " + std::string(launch.where.file_name()) + ":" +
                                std::to_string(launch.where.line()) + " (" + launch.where.function_name() +
                                ") writes depends on the order its threads run between barriers (byte " +
                                std::to_string(i) + " of a " + std::to_string(bytes.size()) +
                                "-byte allocation differs): a missing __syncthreads or __syncwarp, or a data race");
      }
}

}  // namespace

void enqueue_launch(cudaStream_t stream, KernelLaunch launch) {
  const dim3 g = launch.grid, b = launch.block;
  const uint64_t threads = uint64_t(b.x) * b.y * b.z;
  if (g.x == 0 || g.y == 0 || g.z == 0 || g.y > 65535 || g.z > 65535 || threads == 0 || threads > 1024 || b.x > 1024 ||
      b.y > 1024 || b.z > 64 || launch.shared_bytes > 48 * 1024) {
    last_error = cudaErrorInvalidConfiguration;
    return;
  }
  CUstream_st* queue = find_stream(stream);
  if (!queue) {
    last_error = cudaErrorInvalidResourceHandle;
    return;
  }
  auto shared = std::make_shared<KernelLaunch>(std::move(launch));
  queue->push([shared] { run_launch(*shared); });
}

Counters counters() { return Counters{launch_count.load(), allocation_count.load(), read_bytes.load(), written_bytes.load()}; }

void set_race_mode(bool on) { race_mode = on; }

cudaError_t set_stream_delay(cudaStream_t stream, unsigned microseconds) {
  CUstream_st* queue = find_stream(stream);
  if (!queue) return fail(cudaErrorInvalidResourceHandle);
  queue->delay_us = microseconds;
  return cudaSuccess;
}

const char* last_fault() {
  std::lock_guard<std::mutex> lock(fault_lock);
  return fault_text;
}

}  // namespace kn_emu

using namespace kn_emu;

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* properties, int device) {
  if (device != 0) return fail(cudaErrorInvalidDevice);
  *properties = cudaDeviceProp{};
  snprintf(properties->name, sizeof(properties->name), "kalman-norm SIMT emulator (sm_90)");
  properties->totalGlobalMem = size_t(16) << 30;
  properties->sharedMemPerBlock = 48 * 1024;
  properties->sharedMemPerBlockOptin = 227 * 1024;
  properties->regsPerBlock = 65536;
  properties->warpSize = 32;
  properties->maxThreadsPerBlock = 1024;
  properties->maxThreadsDim[0] = 1024;
  properties->maxThreadsDim[1] = 1024;
  properties->maxThreadsDim[2] = 64;
  properties->maxGridSize[0] = 2147483647;
  properties->maxGridSize[1] = 65535;
  properties->maxGridSize[2] = 65535;
  properties->major = 9;
  properties->minor = 0;
  properties->multiProcessorCount = 132;
  properties->maxThreadsPerMultiProcessor = 2048;
  properties->cooperativeLaunch = 1;
  properties->concurrentKernels = 1;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (device != 0) return fail(cudaErrorInvalidDevice);
  current_device = device;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  *device = current_device;
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() {
  std::vector<CUstream_st*> all;
  {
    std::lock_guard<std::mutex> lock(handle_lock);
    for (auto& [raw, owned] : streams) all.push_back(raw);
  }
  for (CUstream_st* stream : all) stream->drain();
  return take_fault();
}

cudaError_t cudaGetLastError() {
  cudaError_t error = last_error;
  last_error = cudaSuccess;
  if (error == cudaSuccess) error = take_fault();
  return error;
}

cudaError_t cudaPeekAtLastError() {
  if (last_error != cudaSuccess) return last_error;
  std::lock_guard<std::mutex> lock(fault_lock);
  return pending_fault;
}

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorCooperativeLaunchTooLarge: return "cudaErrorCooperativeLaunchTooLarge";
    default: return "cudaErrorUnknown";
  }
}

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorLaunchFailure: return last_fault();
    default: return "unknown error";
  }
}

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
    while (!done->load()) std::this_thread::sleep_for(std::chrono::microseconds(20));
    return take_fault();
  }
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* target, const void* source, size_t bytes, cudaMemcpyKind kind) {
  const cudaError_t queued = cudaMemcpyAsync(target, source, bytes, kind, nullptr);
  if (queued != cudaSuccess) return queued;
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
  legacy_stream()->drain();
  return take_fault();
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned) {
  auto owned = std::make_unique<CUstream_st>();
  *stream = owned.get();
  std::lock_guard<std::mutex> lock(handle_lock);
  streams[*stream] = std::move(owned);
  return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  std::unique_ptr<CUstream_st> owned;
  {
    std::lock_guard<std::mutex> lock(handle_lock);
    auto found = streams.find(stream);
    if (!stream || found == streams.end()) return fail(cudaErrorInvalidResourceHandle);
    owned = std::move(found->second);
    streams.erase(found);
  }
  owned->drain();  // its queued work still runs; then the thread ends
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  CUstream_st* queue = find_stream(stream);
  if (!queue) return fail(cudaErrorInvalidResourceHandle);
  queue->drain();
  return take_fault();
}

cudaError_t cudaStreamQuery(cudaStream_t stream) {
  CUstream_st* queue = find_stream(stream);
  if (!queue) return fail(cudaErrorInvalidResourceHandle);
  return queue->idle() ? cudaSuccess : cudaErrorNotReady;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags) {
  auto owned = std::make_shared<CUevent_st>();
  owned->timing = !(flags & cudaEventDisableTiming);
  *event = owned.get();
  std::lock_guard<std::mutex> lock(handle_lock);
  events[*event] = std::move(owned);
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  std::lock_guard<std::mutex> lock(handle_lock);
  return events.erase(event) ? cudaSuccess : fail(cudaErrorInvalidResourceHandle);  // queued records keep it alive
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  std::shared_ptr<CUevent_st> owned = find_event(event);
  CUstream_st* queue = find_stream(stream);
  if (!owned || !queue) return fail(cudaErrorInvalidResourceHandle);
  uint64_t record;
  {
    std::lock_guard<std::mutex> lock(owned->mutex);
    record = ++owned->recorded;
  }
  queue->push([owned, record] {
    std::lock_guard<std::mutex> lock(owned->mutex);
    owned->completed = record;
    owned->time = std::chrono::steady_clock::now();
    owned->changed.notify_all();
  });
  return cudaSuccess;
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned) {
  std::shared_ptr<CUevent_st> owned = find_event(event);
  CUstream_st* queue = find_stream(stream);
  if (!owned || !queue) return fail(cudaErrorInvalidResourceHandle);
  uint64_t record;
  {
    std::lock_guard<std::mutex> lock(owned->mutex);
    record = owned->recorded;  // the record most recently issued at this call
  }
  if (record == 0) return cudaSuccess;
  queue->push([owned, record] {
    std::unique_lock<std::mutex> lock(owned->mutex);
    owned->changed.wait(lock, [&] { return owned->completed >= record; });
  });
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  std::shared_ptr<CUevent_st> owned = find_event(event);
  if (!owned) return fail(cudaErrorInvalidResourceHandle);
  std::unique_lock<std::mutex> lock(owned->mutex);
  const uint64_t record = owned->recorded;
  owned->changed.wait(lock, [&] { return owned->completed >= record; });
  lock.unlock();
  return take_fault();
}

cudaError_t cudaEventQuery(cudaEvent_t event) {
  std::shared_ptr<CUevent_st> owned = find_event(event);
  if (!owned) return fail(cudaErrorInvalidResourceHandle);
  std::lock_guard<std::mutex> lock(owned->mutex);
  return owned->completed >= owned->recorded ? cudaSuccess : cudaErrorNotReady;
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  std::shared_ptr<CUevent_st> first = find_event(start), last = find_event(end);
  if (!first || !last) return fail(cudaErrorInvalidResourceHandle);
  if (!first->timing || !last->timing) return fail(cudaErrorInvalidResourceHandle);
  std::scoped_lock lock(first->mutex, last->mutex);
  if (first->recorded == 0 || last->recorded == 0) return fail(cudaErrorInvalidResourceHandle);
  if (first->completed < first->recorded || last->completed < last->recorded) return cudaErrorNotReady;
  *ms = std::chrono::duration<float, std::milli>(last->time - first->time).count();
  return cudaSuccess;
}
