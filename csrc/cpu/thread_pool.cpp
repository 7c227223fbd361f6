// A fixed pool sized to the machine (or KN_NUM_THREADS), created on first use. One job runs at a
// time; concurrent callers (several Node worker threads) queue on a mutex. Pieces are handed out
// through an atomic counter so that fast threads take more of them. A piece that throws, on any
// thread, stops the hand-out; the caller waits until every worker has left the body, then rethrows
// the first exception. An op runs several jobs back to back (a reduction, a fold, an element
// pass), so a worker that finishes one spins briefly for the next, and the caller spins briefly
// for the workers, before either sleeps: waking a sleeping thread costs tens of microseconds.
// Once the caller has run out of pieces it closes the job: it then waits only for the workers that
// joined it, not for one that the system has not run yet (on a busy machine, a time slice).
#include "thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <thread>
#include <vector>

namespace kn {
namespace {

constexpr int64_t kMinParallelCost = 1 << 16;  // below this, waking threads costs more than it saves
constexpr int64_t kMinPieceCost = 1 << 14;
constexpr int kSpins = 4096;  // about 20 to 40 µs

// One step of a spin-wait: a pause, and every 64th step a yield, so that a spinning thread gives
// its core to any other thread that is ready to run (V8's compiler and collector threads, a second
// process) instead of competing with it.
void spin_step(int spin) {
  if (spin % 64 == 63) {
    std::this_thread::yield();
    return;
  }
#if defined(__x86_64__)
  _mm_pause();
#endif
}

int configured_threads() {
  if (const char* text = std::getenv("KN_NUM_THREADS")) {
    const int requested = std::atoi(text);
    if (requested > 0) return requested;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

class ThreadPool {
 public:
  explicit ThreadPool(int threads) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
  }

  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& worker : workers_) worker.join();
  }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void run(int64_t pieces, int64_t piece_items, int64_t count,
           const std::function<void(int64_t, int64_t)>& body) {
    std::lock_guard<std::mutex> one_job_at_a_time(job_mutex_);
    bool wake = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      body_ = &body;
      count_ = count;
      piece_items_ = piece_items;
      pieces_ = pieces;
      next_piece_.store(0);
      open_ = true;
      failure_ = nullptr;
      generation_.fetch_add(1);
      wake = sleeping_ > 0;
    }
    if (wake) wake_.notify_all();
    take_pieces();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      open_ = false;  // no worker joins from here
    }
    for (int spin = 0; spin < kSpins && joined_workers_.load() != 0; ++spin) spin_step(spin);
    std::unique_lock<std::mutex> lock(mutex_);
    // `body` lives in the caller's frame: no return, normal or by exception, before every worker is out of it.
    done_.wait(lock, [this] { return joined_workers_.load() == 0; });
    if (failure_) {
      const std::exception_ptr failure = failure_;
      failure_ = nullptr;
      lock.unlock();
      std::rethrow_exception(failure);
    }
  }

 private:
  // Runs pieces until none is left. An exception never leaves it (on a worker it would end the
  // process): the first one is kept for the caller, and no further piece starts.
  void take_pieces() noexcept {
    try {
      for (;;) {
        const int64_t piece = next_piece_.fetch_add(1);
        if (piece >= pieces_) return;
        const int64_t begin = piece * piece_items_;
        (*body_)(begin, std::min(count_, begin + piece_items_));
      }
    } catch (...) {
      next_piece_.store(pieces_);
      std::lock_guard<std::mutex> lock(mutex_);
      if (!failure_) failure_ = std::current_exception();
    }
  }

  void worker_loop() {
    uint64_t seen = 0;
    for (;;) {
      for (int spin = 0; spin < kSpins && generation_.load() == seen && !stopping_.load(); ++spin) spin_step(spin);
      {
        std::unique_lock<std::mutex> lock(mutex_);
        if (!stopping_ && generation_.load() == seen) {
          ++sleeping_;
          wake_.wait(lock, [&] { return stopping_ || generation_.load() != seen; });
          --sleeping_;
        }
        if (stopping_) return;
        seen = generation_.load();  // the job's fields, written under mutex_, are visible from here
        if (!open_) continue;       // the caller has finished this job without us
        joined_workers_.fetch_add(1);
      }
      take_pieces();
      if (joined_workers_.fetch_sub(1) == 1) {
        std::lock_guard<std::mutex> lock(mutex_);  // the caller checks joined_workers_ under it before it sleeps
        done_.notify_one();
      }
    }
  }

  std::vector<std::thread> workers_;
  std::mutex job_mutex_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> generation_{0};  // changed under mutex_, also read by spinning threads
  bool open_ = false;                    // workers may join the job; guarded by mutex_
  std::atomic<int> joined_workers_{0};   // workers inside the job; joined under mutex_ while open_
  int sleeping_ = 0;  // workers waiting on wake_, guarded by mutex_
  const std::function<void(int64_t, int64_t)>* body_ = nullptr;
  int64_t count_ = 0;
  int64_t piece_items_ = 0;
  int64_t pieces_ = 0;
  std::atomic<int64_t> next_piece_{0};
  std::exception_ptr failure_;  // the job's first exception, guarded by mutex_
};

ThreadPool& pool() {
  static ThreadPool instance(configured_threads());
  return instance;
}

}  // namespace

int thread_count() { return pool().size(); }

void parallel_for(int64_t count, int64_t cost_per_item,
                  const std::function<void(int64_t, int64_t)>& body) {
  if (count <= 0) return;
  const int64_t cost = count * std::max<int64_t>(1, cost_per_item);
  if (cost < kMinParallelCost || pool().size() == 1) {
    body(0, count);
    return;
  }
  // Several pieces per thread balance uneven progress; each piece still amortizes its overhead.
  const int64_t items_for_min_cost = std::max<int64_t>(1, kMinPieceCost / std::max<int64_t>(1, cost_per_item));
  const int64_t items_for_balance = std::max<int64_t>(1, count / (8 * int64_t(pool().size())));
  const int64_t piece_items = std::max(items_for_min_cost, items_for_balance);
  const int64_t pieces = (count + piece_items - 1) / piece_items;
  if (pieces == 1) {
    body(0, count);
    return;
  }
  pool().run(pieces, piece_items, count, body);
}

}  // namespace kn
