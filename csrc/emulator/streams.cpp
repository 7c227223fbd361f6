// Streams and events of the SIMT emulator: each stream a host thread running its queue in order
// (runtime_internal.h), events recorded by the queue and waited for by other queues or the host.
#include <chrono>
#include <map>
#include <memory>

#include "diagnostics.h"
#include "runtime_internal.h"

struct CUevent_st {
  std::mutex mutex;
  std::condition_variable changed;
  uint64_t recorded = 0;   // records issued
  uint64_t completed = 0;  // records the stream reached
  std::chrono::steady_clock::time_point time;
  bool timing = true;
};

namespace kn_emu {
namespace {

// Streams and events are handed out as raw handles; these keep the objects and check handles.
std::mutex handle_lock;
std::map<CUstream_st*, std::unique_ptr<CUstream_st>>& streams = *new std::map<CUstream_st*, std::unique_ptr<CUstream_st>>;
std::map<CUevent_st*, std::shared_ptr<CUevent_st>>& events = *new std::map<CUevent_st*, std::shared_ptr<CUevent_st>>;

}  // namespace

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

namespace {

std::shared_ptr<CUevent_st> find_event(cudaEvent_t event) {
  std::lock_guard<std::mutex> lock(handle_lock);
  auto found = events.find(event);
  return found == events.end() ? nullptr : found->second;
}

}  // namespace

cudaError_t set_stream_delay(cudaStream_t stream, unsigned microseconds) {
  CUstream_st* queue = find_stream(stream);
  if (!queue) return fail(cudaErrorInvalidResourceHandle);
  queue->delay_us = microseconds;
  return cudaSuccess;
}

}  // namespace kn_emu

using namespace kn_emu;

cudaError_t cudaDeviceSynchronize() {
  ++host_wait_count;
  std::vector<CUstream_st*> all;
  {
    std::lock_guard<std::mutex> lock(handle_lock);
    for (auto& [raw, owned] : streams) all.push_back(raw);
  }
  for (CUstream_st* stream : all) stream->drain();
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
  ++host_wait_count;
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
  ++host_wait_count;
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
