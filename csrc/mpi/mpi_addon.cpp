// kn_mpi.node: the MPI engine behind lib/distributed/mpi.ts, an addon of its own so that the
// product addon never links MPI. It converts and checks arguments (lib/ checks them first, with the
// user's names; these checks keep a bad call from reaching MPI) and calls mpi_world.cpp.
//   init() -> { rank, size, cudaAware }   starts MPI once
//   allGather(send: Float64Array, receive: Float64Array)
//   allReduce(buffer: Float64Array | Float32Array, op: 0 sum | 1 max)
//   finalize()   ends MPI; lib/distributed/mpi.ts calls it when the process exits with code 0
// Not an environment cleanup hook: those do not run on process.exit(), and they would run after a
// failure too, where MPI_Finalize waits for a peer that is blocked in a collective, and the job
// hangs; a rank that exits without it makes mpirun end the job at once.
#include <napi.h>

#include <climits>
#include <string>

#include "mpi_world.h"

namespace {

// The environment that started MPI: MPI belongs to one thread (MPI_THREAD_FUNNELED), so a worker
// thread's environment may not use it.
napi_env owner = nullptr;
int world_size = 1;

void require_owner(const Napi::Env& env) {
  if (owner == nullptr) throw Napi::Error::New(env, "MPI is not running: call init() first");
  if (owner != static_cast<napi_env>(env))
    throw Napi::Error::New(env, "MPI belongs to the thread that started it (the main thread)");
}

Napi::Value init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (owner == nullptr) {
    kn::mpi::initialize();
    owner = env;
  }
  require_owner(env);
  const kn::mpi::World world = kn::mpi::world();
  world_size = world.size;
  Napi::Object result = Napi::Object::New(env);
  result.Set("rank", world.rank);
  result.Set("size", world.size);
  result.Set("cudaAware", world.cuda_aware);
  return result;
}

bool is_typed_array(const Napi::Value& value, napi_typedarray_type type) {
  return value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == type;
}

Napi::Float64Array float64_argument(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (!is_typed_array(info[index], napi_float64_array))
    throw Napi::TypeError::New(info.Env(), std::string(name) + ": expected a Float64Array");
  return info[index].As<Napi::Float64Array>();
}

// MPI counts are ints.
int count_of(const Napi::Env& env, const char* name, size_t length) {
  if (length > static_cast<size_t>(INT_MAX))
    throw Napi::RangeError::New(env, std::string(name) + ": more than 2^31 - 1 values");
  return static_cast<int>(length);
}

void all_gather(const Napi::CallbackInfo& info) {
  require_owner(info.Env());
  const Napi::Float64Array send = float64_argument(info, 0, "send");
  Napi::Float64Array receive = float64_argument(info, 1, "receive");
  if (receive.ElementLength() != static_cast<size_t>(world_size) * send.ElementLength())
    throw Napi::RangeError::New(info.Env(), "receive: expected size * send.length values");
  count_of(info.Env(), "receive", receive.ElementLength());
  kn::mpi::all_gather(send.Data(), count_of(info.Env(), "send", send.ElementLength()), receive.Data());
}

void all_reduce(const Napi::CallbackInfo& info) {
  require_owner(info.Env());
  const Napi::Value buffer = info[0];
  const double code = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
  if (code != 0 && code != 1) throw Napi::RangeError::New(info.Env(), "op: expected 0 (sum) or 1 (max)");
  const auto op = code == 1 ? kn::mpi::ReduceOp::kMax : kn::mpi::ReduceOp::kSum;
  if (is_typed_array(buffer, napi_float64_array)) {
    auto values = buffer.As<Napi::Float64Array>();
    kn::mpi::all_reduce(values.Data(), count_of(info.Env(), "buffer", values.ElementLength()), op);
  } else if (is_typed_array(buffer, napi_float32_array)) {
    auto values = buffer.As<Napi::Float32Array>();
    kn::mpi::all_reduce(values.Data(), count_of(info.Env(), "buffer", values.ElementLength()), op);
  } else {
    throw Napi::TypeError::New(info.Env(), "buffer: expected a Float64Array or a Float32Array");
  }
}

void finalize(const Napi::CallbackInfo& info) {
  require_owner(info.Env());
  kn::mpi::finalize();
}

Napi::Object register_entry_points(Napi::Env env, Napi::Object exports) {
  exports.Set("init", Napi::Function::New(env, init, "init"));
  exports.Set("allGather", Napi::Function::New(env, all_gather, "allGather"));
  exports.Set("allReduce", Napi::Function::New(env, all_reduce, "allReduce"));
  exports.Set("finalize", Napi::Function::New(env, finalize, "finalize"));
  return exports;
}

}  // namespace

NODE_API_MODULE(kn_mpi, register_entry_points)
