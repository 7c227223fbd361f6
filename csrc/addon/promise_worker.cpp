#include "promise_worker.h"

#include <exception>
#include <utility>

namespace kn::addon {

PromiseWorker::PromiseWorker(const Napi::Object& keep, std::function<void()> job, const char* name)
    : Napi::AsyncWorker(keep.Env(), name),
      deferred_(Napi::Promise::Deferred::New(keep.Env())),
      keep_(Napi::Persistent(keep)),
      job_(std::move(job)) {}

Napi::Promise PromiseWorker::queue(const Napi::Object& keep, std::function<void()> job, const char* name) {
  auto* worker = new PromiseWorker(keep, std::move(job), name);  // deletes itself once settled
  const Napi::Promise promise = worker->deferred_.Promise();
  worker->Queue();
  return promise;
}

Napi::Promise PromiseWorker::resolved(const Napi::Env& env) {
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  deferred.Resolve(env.Undefined());
  return deferred.Promise();
}

// AsyncWorker catches std::exception only; anything else escaping a libuv thread would end the process.
void PromiseWorker::Execute() {
  try {
    job_();
  } catch (const std::exception& error) {
    SetError(error.what());
  } catch (...) {
    SetError("kalman-norm: the native call failed with an unknown exception");
  }
}

void PromiseWorker::OnOK() { deferred_.Resolve(Env().Undefined()); }

void PromiseWorker::OnError(const Napi::Error& error) { deferred_.Reject(error.Value()); }

}  // namespace kn::addon
