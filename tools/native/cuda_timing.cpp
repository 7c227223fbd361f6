// CUDA event timing for the benchmark (CUDA builds only): events recorded on a stream the caller
// passes as a bigint (a stream of the product's streamCreate(); 0n, the product's own stream, is
// unknown here and refused). Failures are JavaScript Errors naming the call and the CUDA error.
#include <cuda_runtime_api.h>

#include <string>

#include "arguments.h"
#include "tools.h"

namespace kn::tools {
namespace {

void check_cuda(const Napi::Env& env, cudaError_t status, const char* op, const char* what) {
  if (status != cudaSuccess)
    throw Napi::Error::New(env, std::string(op) + ": " + what + " failed: " + cudaGetErrorName(status) + " (" +
                                    cudaGetErrorString(status) + ")");
}

cudaStream_t stream_argument(const Napi::CallbackInfo& info, size_t index) {
  const uint64_t stream = bigint_value(info[index], "stream");
  if (stream == 0) throw_range(info.Env(), "stream: expected a stream from streamCreate(), not 0n");
  return reinterpret_cast<cudaStream_t>(stream);
}

cudaEvent_t event_argument(const Napi::CallbackInfo& info, size_t index, const char* name) {
  const uint64_t event = bigint_value(info[index], name);
  if (event == 0) throw_range(info.Env(), std::string(name) + ": expected an event from eventRecord()");
  return reinterpret_cast<cudaEvent_t>(event);
}

// eventRecord(stream) -> bigint: a new event recorded on the stream.
Napi::Value event_record(const Napi::CallbackInfo& info) {
  const cudaStream_t stream = stream_argument(info, 0);
  cudaEvent_t event = nullptr;
  check_cuda(info.Env(), cudaEventCreate(&event), "eventRecord", "cudaEventCreate");
  const cudaError_t recorded = cudaEventRecord(event, stream);
  if (recorded != cudaSuccess) cudaEventDestroy(event);
  check_cuda(info.Env(), recorded, "eventRecord", "cudaEventRecord");
  return Napi::BigInt::New(info.Env(), uint64_t(reinterpret_cast<uintptr_t>(event)));
}

// eventElapsedMs(start, end) -> milliseconds between two recorded events; waits for `end`, then
// destroys both (also when it fails).
Napi::Value event_elapsed_ms(const Napi::CallbackInfo& info) {
  const cudaEvent_t start = event_argument(info, 0, "start"), end = event_argument(info, 1, "end");
  float ms = 0.f;
  cudaError_t status = cudaEventSynchronize(end);
  const char* what = "cudaEventSynchronize";
  if (status == cudaSuccess) {
    status = cudaEventElapsedTime(&ms, start, end);
    what = "cudaEventElapsedTime";
  }
  cudaEventDestroy(start);
  cudaEventDestroy(end);
  check_cuda(info.Env(), status, "eventElapsedMs", what);
  return Napi::Number::New(info.Env(), ms);
}

}  // namespace

void register_cuda_timing(Napi::Env env, Napi::Object exports) {
  exports.Set("eventRecord", Napi::Function::New(env, event_record, "eventRecord"));
  exports.Set("eventElapsedMs", Napi::Function::New(env, event_elapsed_ms, "eventElapsedMs"));
}

}  // namespace kn::tools
