// What the emulator's runtime files (runtime.cpp, memory.cpp, streams.cpp) share: a stream as a
// host thread running its queue, the device lock, the fault and error state, the counters.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "runtime_api.h"

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

// One kernel, copy or memset runs at a time, under this lock.
extern std::mutex device_lock;

extern std::atomic<uint64_t> allocation_count, read_bytes, written_bytes, host_transfer_count, host_wait_count;

// Sets this host thread's last error (cudaGetLastError) and returns it.
cudaError_t fail(cudaError_t error);

// A synchronizing call returns a kernel fault once.
cudaError_t take_fault();

// The stream of a handle (null: the legacy default stream), or null for an unknown handle.
CUstream_st* find_stream(cudaStream_t stream);
CUstream_st* legacy_stream();

// A copy of every live allocation (race mode), to compare and to restore.
std::vector<std::pair<char*, std::vector<char>>> snapshot_memory();

}  // namespace kn_emu
