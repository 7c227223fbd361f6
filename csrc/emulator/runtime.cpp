// The CUDA runtime of the SIMT emulator: launches (and race mode), faults and errors, the fake
// sm_90 device, the counters. Memory is in memory.cpp, streams and events in streams.cpp. A fault
// in a kernel is printed and returned by the next synchronizing call (then cleared).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <map>
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

std::atomic<uint64_t> launch_count{0}, grid_sync_count{0};
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
    grid_sync_count += last_grid_syncs();
    uint64_t read = 0, written = 0;
    take_kernel_traffic(read, written);
    read_bytes += read;
    written_bytes += written;
    if (!failure.empty()) report_fault(cudaErrorLaunchFailure, failure);
    return;
  }
  auto before = snapshot_memory();
  std::string failure = run_grid(launch, ThreadOrder::kAscending);
  grid_sync_count += last_grid_syncs();
  uint64_t read = 0, written = 0;
  take_kernel_traffic(read, written);  // two runs: the counters take the first
  read_bytes += read;
  written_bytes += written;
  if (!failure.empty()) return report_fault(cudaErrorLaunchFailure, failure);
  auto ascending = snapshot_memory();
  for (auto& [base, bytes] : before) memcpy(base, bytes.data(), bytes.size());
  failure = run_grid(launch, ThreadOrder::kDescending);
  take_kernel_traffic(read, written);
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

namespace {

constexpr size_t kDefaultDynamicShared = 48 * 1024;
constexpr size_t kSharedPerSm = 228 * 1024, kSharedReservedPerBlock = 1024;
constexpr int kThreadsPerSm = 2048, kBlocksPerSm = 32;

const cudaDeviceProp& device_properties() {
  static const cudaDeviceProp properties = [] {
    cudaDeviceProp p{};
    snprintf(p.name, sizeof(p.name), "kalman-norm SIMT emulator (sm_90)");
    p.totalGlobalMem = size_t(16) << 30;
    p.sharedMemPerBlock = kDefaultDynamicShared;
    p.sharedMemPerBlockOptin = 227 * 1024;
    p.regsPerBlock = 65536;
    p.warpSize = 32;
    p.maxThreadsPerBlock = 1024;
    p.maxThreadsDim[0] = 1024;
    p.maxThreadsDim[1] = 1024;
    p.maxThreadsDim[2] = 64;
    p.maxGridSize[0] = 2147483647;
    p.maxGridSize[1] = 65535;
    p.maxGridSize[2] = 65535;
    p.major = 9;
    p.minor = 0;
    p.multiProcessorCount = 132;
    p.maxThreadsPerMultiProcessor = kThreadsPerSm;
    p.cooperativeLaunch = 1;
    p.concurrentKernels = 1;
    return p;
  }();
  return properties;
}

// Each kernel's dynamic shared memory limit, once raised by cudaFuncSetAttribute.
std::mutex functions_lock;
std::map<const void*, size_t> dynamic_shared_limits;

size_t dynamic_shared_limit(const void* function) {
  std::lock_guard<std::mutex> lock(functions_lock);
  const auto found = dynamic_shared_limits.find(function);
  return found == dynamic_shared_limits.end() ? kDefaultDynamicShared : found->second;
}

int blocks_per_sm(const void* function, size_t block_threads, size_t dynamic_shared_bytes) {
  if (block_threads == 0 || dynamic_shared_bytes > dynamic_shared_limit(function)) return 0;
  const size_t warps = (block_threads + 31) / 32;
  const size_t by_threads = kThreadsPerSm / (warps * 32);
  const size_t by_shared = kSharedPerSm / (dynamic_shared_bytes + static_shared_bytes() + kSharedReservedPerBlock);
  const size_t blocks = by_threads < by_shared ? by_threads : by_shared;
  return int(blocks < size_t(kBlocksPerSm) ? blocks : kBlocksPerSm);
}

}  // namespace

void enqueue_launch(cudaStream_t stream, KernelLaunch launch) {
  const dim3 g = launch.grid, b = launch.block;
  const uint64_t threads = uint64_t(b.x) * b.y * b.z;
  if (g.x == 0 || g.y == 0 || g.z == 0 || g.y > 65535 || g.z > 65535 || threads == 0 || threads > 1024 || b.x > 1024 ||
      b.y > 1024 || b.z > 64 || launch.shared_bytes > device_properties().sharedMemPerBlockOptin) {
    last_error = cudaErrorInvalidConfiguration;
    return;
  }
  if (launch.shared_bytes > dynamic_shared_limit(launch.function)) {  // not raised with cudaFuncSetAttribute
    last_error = cudaErrorInvalidValue;
    return;
  }
  const uint64_t blocks = uint64_t(g.x) * g.y * g.z;
  if (launch.cooperative &&
      blocks > uint64_t(device_properties().multiProcessorCount) * blocks_per_sm(launch.function, threads, launch.shared_bytes)) {
    last_error = cudaErrorCooperativeLaunchTooLarge;  // its blocks could not all be resident at once
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
  return Counters{launch_count.load(),         allocation_count.load(),    read_bytes.load(), written_bytes.load(),
                  host_transfer_count.load(), host_wait_count.load(), grid_sync_count.load()};
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
  *properties = device_properties();
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attribute, int device) {
  if (device != 0) return fail(cudaErrorInvalidDevice);
  const cudaDeviceProp& properties = device_properties();
  switch (attribute) {
    case cudaDevAttrMultiProcessorCount: *value = properties.multiProcessorCount; return cudaSuccess;
    case cudaDevAttrCooperativeLaunch: *value = properties.cooperativeLaunch; return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = int(properties.sharedMemPerBlockOptin); return cudaSuccess;
    default: return fail(cudaErrorInvalidValue);
  }
}

cudaError_t cudaFuncSetAttribute(const void* function, cudaFuncAttribute attribute, int value) {
  if (!function || attribute != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 ||
      size_t(value) + static_shared_bytes() > device_properties().sharedMemPerBlockOptin)
    return fail(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(functions_lock);
  dynamic_shared_limits[function] = size_t(value);
  return cudaSuccess;
}

cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* blocks, const void* function, int block_threads,
                                                          size_t dynamic_shared_bytes) {
  if (!blocks || !function || block_threads <= 0 || block_threads > 1024) return fail(cudaErrorInvalidValue);
  *blocks = blocks_per_sm(function, size_t(block_threads), dynamic_shared_bytes);
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
    case cudaErrorCooperativeLaunchTooLarge: return "too many blocks in cooperative launch";
    default: return "unknown error";
  }
}
