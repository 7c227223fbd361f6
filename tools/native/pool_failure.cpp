// poolFailure({ thrower: 'caller' | 'worker' }): the CPU thread pool's exception contract
// (csrc/cpu/thread_pool.h) seen from JavaScript. A parallel_for of 64 items (one millisecond of
// sleep each, in pieces of several items) one of whose pieces throws, on the calling thread or on
// a worker. Returns what the caller caught, how many pieces were still running when parallel_for
// returned, and how many started after it (both must be 0), and the pool's size (1: no workers,
// nothing to check).
#include <atomic>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

#include "arguments.h"
#include "csrc/cpu/thread_pool.h"
#include "tools.h"

namespace kn::tools {
namespace {

Napi::Value pool_failure(const Napi::CallbackInfo& info) {
  const Napi::Object args = object_argument(info);
  const bool on_caller = choice_field(args, "thrower", {"caller", "worker"}) == 0;
  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<int> started{0}, finished{0};
  std::atomic<bool> thrown{false};
  // Named, so that a body the pool left running would still find it (and be counted) below.
  const std::function<void(int64_t, int64_t)> body = [&](int64_t begin, int64_t end) {
    started.fetch_add(1);
    if ((std::this_thread::get_id() == caller) == on_caller && !thrown.exchange(true))
      throw std::runtime_error(std::string("a piece failed on the ") + (on_caller ? "caller" : "worker"));
    std::this_thread::sleep_for(std::chrono::milliseconds(end - begin));
    finished.fetch_add(1);
  };
  std::string caught;
  try {
    parallel_for(64, int64_t(1) << 16, body);
  } catch (const std::exception& error) {
    caught = error.what();
  }
  const int started_at_return = started.load(), finished_at_return = finished.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // what still ran would be done by now
  Napi::Object result = Napi::Object::New(info.Env());
  result.Set("message", caught);
  result.Set("runningAtReturn", started_at_return - finished_at_return - (thrown.load() ? 1 : 0));
  result.Set("startedAfterReturn", started.load() - started_at_return);
  result.Set("threads", thread_count());
  return result;
}

}  // namespace

void register_pool_failure(Napi::Env env, Napi::Object exports) {
  exports.Set("poolFailure", Napi::Function::New(env, pool_failure, "poolFailure"));
}

}  // namespace kn::tools
