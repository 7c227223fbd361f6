// The CUDA runtime of the SIMT emulator: launches (and race mode), faults and errors, the fake
// sm_90 device, the counters. Memory is in memory.cpp, streams and events in streams.cpp. A fault
// in a kernel is printed and returned by the next synchronizing call (then cleared).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memory>
#include <string>

#include "diagnostics.h"
#include "runtime_internal.h"
#include "scheduler.h"
#include "traffic.h"

namespace kn_emu {

std::mutex device_lock;
std::atomic<uint64_t> allocation_count{0}, read_bytes{0}, written_bytes{0}, host_transfer_count{0}, host_wait_count{0};

namespace {

std::atomic<uint64_t> launch_count{0};
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

}  // namespace

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

namespace {

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
  auto before = snapshot_memory();
  std::string failure = run_grid(launch, ThreadOrder::kAscending);
  if (!failure.empty()) return report_fault(cudaErrorLaunchFailure, failure);
  auto ascending = snapshot_memory();
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

Counters counters() {
  return Counters{launch_count.load(),  allocation_count.load(),    read_bytes.load(),
                  written_bytes.load(), host_transfer_count.load(), host_wait_count.load()};
}

void set_race_mode(bool on) { race_mode = on; }

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
