// Runs one job on a libuv worker thread and settles a promise when it is done, so the event loop
// stays free while the CPU works.
#pragma once

#include <napi.h>

#include <functional>

namespace kn::addon {

class PromiseWorker final : public Napi::AsyncWorker {
 public:
  // Queues `job`; the promise resolves with undefined, or rejects with an Error carrying the
  // message of what the job threw. `keep` (the call's argument object) stays referenced until the
  // job is done, so no buffer the job reads or writes can be collected under it.
  static Napi::Promise queue(const Napi::Object& keep, std::function<void()> job, const char* name);

  // A promise that is already resolved (a job that ran on the calling thread).
  static Napi::Promise resolved(const Napi::Env& env);

 protected:
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& error) override;

 private:
  PromiseWorker(const Napi::Object& keep, std::function<void()> job, const char* name);

  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference keep_;
  std::function<void()> job_;
};

}  // namespace kn::addon
