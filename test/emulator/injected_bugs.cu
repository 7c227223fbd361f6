// The SIMT emulator's own tests (kn_emulator_checks, built only by KN_CUDA=emulate): kernels with
// one injected bug each, each of which must be reported as a fault that names this file and the
// line of the bug, and correct kernels (shuffles, ballot, dynamic shared memory, a cooperative grid
// sync, race mode on a correct barrier) that must give the right values and no fault; and the
// launch rules of a GPU the persistent kernels rely on (the dynamic shared memory limit, the size
// of a cooperative grid, static shared memory per block). Prints one line per check; exits 1 if
// any check failed. test/gpu/emulator-checks.test.ts runs it.
#include <cooperative_groups.h>
#include <stdio.h>

#include <string>
#include <vector>

#include "../../csrc/emulator/diagnostics.h"
#include "kernel_launch.cuh"

namespace {

using kn::cuda::launch_cooperative_kernel;
using kn::cuda::launch_kernel;

constexpr int kThreads = 128;
constexpr unsigned kFullMask = 0xffffffffu;

// One block: *out = the sum of in[0..kThreads) through shared memory. barrier = false is the
// injected bug: thread 0 may read values the others have not written yet.
__global__ void block_sum_kernel(const float* in, float* out, bool barrier) {
  __shared__ float values[kThreads];
  values[threadIdx.x] = in[threadIdx.x];
  if (barrier) __syncthreads();
  if (threadIdx.x == 0) {
    float sum = 0.f;
    for (int i = 0; i < kThreads; ++i) sum += values[i];
    *out = sum;
  }
}

// Reverses a block through dynamic shared memory of kThreads floats (an undersized buffer is the bug).
__global__ void reverse_kernel(const float* in, float* out) {
  KN_DYNAMIC_SHARED(float, lanes);
  lanes[threadIdx.x] = in[threadIdx.x];
  __syncthreads();
  out[threadIdx.x] = lanes[kThreads - 1 - threadIdx.x];
}

// Per warp: out[warp] = the sum of its 32 values by shuffles. quitting_lane >= 0 is the bug: that
// lane returns before the shuffles its warp waits for it in.
constexpr int kShuffleLine = __LINE__ + 6;
__global__ void warp_sum_kernel(const float* in, float* out, int quitting_lane) {
  const int lane = threadIdx.x % 32;
  float value = in[threadIdx.x];
  if (lane == quitting_lane) return;
  for (int offset = 16; offset > 0; offset /= 2)
    value += __shfl_down_sync(kFullMask, value, offset);
  if (lane == 0) out[threadIdx.x / 32] = value;
}

// Copies a block's values one place to the left: the last thread reads one past the end of `in`
// (the injected out-of-bounds read; only the AddressSanitizer build reports it).
constexpr int kOutOfBoundsLine = __LINE__ + 2;
__global__ void shift_kernel(const float* in, float* out) {
  out[threadIdx.x] = in[threadIdx.x + 1];
}

// Every lane gets its warp's sum (xor butterfly) and the ballot of odd values.
__global__ void butterfly_kernel(const float* in, float* sums, unsigned* ballots) {
  float value = in[threadIdx.x];
  for (int mask = 16; mask > 0; mask /= 2) value += __shfl_xor_sync(kFullMask, value, mask);
  sums[threadIdx.x] = value;
  ballots[threadIdx.x] = __ballot_sync(kFullMask, int(in[threadIdx.x]) % 2 != 0);
}

// The first half of the block waits at a barrier the second half never reaches.
constexpr int kDivergentBarrierLine = __LINE__ + 2;
__global__ void divergent_barrier_kernel(float* out) {
  if (threadIdx.x < kThreads / 2) __syncthreads();
  out[threadIdx.x] = 1.f;
}

// Lane 0 waits in a two-lane shuffle while lane 1 waits at the block barrier: nobody can continue.
__global__ void deadlock_kernel(float* out) {
  float value = float(threadIdx.x);
  if (threadIdx.x == 0) value = __shfl_sync(0x3u, value, 1);
  __syncthreads();
  out[threadIdx.x] = value;
}

// Each block sums its slice, the grid syncs, then every thread reads every block's sum.
__global__ void grid_total_kernel(const float* in, float* block_sums, float* out) {
  if (threadIdx.x == 0) {
    float sum = 0.f;
    for (int i = 0; i < kThreads; ++i) sum += in[blockIdx.x * kThreads + i];
    block_sums[blockIdx.x] = sum;
  }
  cooperative_groups::this_grid().sync();
  float total = 0.f;
  for (unsigned b = 0; b < gridDim.x; ++b) total += block_sums[b];
  out[blockIdx.x * kThreads + threadIdx.x] = total;
}

// Each block keeps its index in a static __shared__ variable across a grid sync, then every thread
// writes what it reads there: its block's index, if each block has its own.
__global__ void block_static_kernel(float* out) {
  __shared__ float mine;
  if (threadIdx.x == 0) mine = float(blockIdx.x);
  cooperative_groups::this_grid().sync();
  __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = mine;
}

int failures = 0;

template <typename T>
T* device_copy(const std::vector<T>& values) {
  T* pointer = nullptr;
  cudaMalloc(reinterpret_cast<void**>(&pointer), values.size() * sizeof(T));
  cudaMemcpy(pointer, values.data(), values.size() * sizeof(T), cudaMemcpyHostToDevice);
  return pointer;
}

template <typename T>
std::vector<T> host_copy(const T* pointer, size_t count) {
  std::vector<T> values(count);
  cudaMemcpy(values.data(), pointer, count * sizeof(T), cudaMemcpyDeviceToHost);
  return values;
}

void report(const char* name, bool ok, const std::string& detail) {
  printf("%s %s%s%s\n", ok ? "ok    " : "FAILED", name, detail.empty() ? "" : ": ", detail.c_str());
  if (!ok) ++failures;
}

// The launch just queued must fail with a fault naming `kind` and this file at `line` (0: any line).
void expect_fault(const char* name, const char* kind, int line) {
  const cudaError_t status = cudaDeviceSynchronize();
  const std::string fault = status == cudaErrorLaunchFailure ? kn_emu::last_fault() : "";
  const std::string where = std::string("injected_bugs.cu:") + (line ? std::to_string(line) : "");
  const bool ok = fault.find(kind) != std::string::npos && fault.find(where) != std::string::npos;
  report(name, ok, ok ? fault : "expected a fault with '" + std::string(kind) + "' at " + where + ", got " +
                                    cudaGetErrorName(status) + " '" + fault + "'");
}

void expect_no_fault(const char* name, bool values_right, const std::string& detail) {
  const cudaError_t status = cudaDeviceSynchronize();
  report(name, status == cudaSuccess && values_right,
         status == cudaSuccess ? detail : std::string("fault: ") + kn_emu::last_fault());
}

// `kn_emulator_checks out-of-bounds` runs the out-of-bounds kernel alone: under AddressSanitizer the
// process ends with a heap-buffer-overflow report naming shift_kernel at kOutOfBoundsLine.
int out_of_bounds() {
  float* in = device_copy(std::vector<float>(kThreads, 1.f));
  float* out = device_copy(std::vector<float>(kThreads, 0.f));
  printf("out-of-bounds read expected at injected_bugs.cu:%d\n", kOutOfBoundsLine);
  fflush(stdout);
  launch_kernel(shift_kernel, 1, kThreads, 0, nullptr, in, out);
  return cudaDeviceSynchronize() == cudaSuccess ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "out-of-bounds") return out_of_bounds();
  std::vector<float> ramp(4 * kThreads);
  for (size_t i = 0; i < ramp.size(); ++i) ramp[i] = float(i % 7);
  float* in = device_copy(ramp);
  float* out = device_copy(std::vector<float>(4 * kThreads, 0.f));
  float* scratch = device_copy(std::vector<float>(4 * kThreads, 0.f));
  float block_total = 0.f, grid_total = 0.f;
  for (int i = 0; i < kThreads; ++i) block_total += ramp[i];
  for (float value : ramp) grid_total += value;

  kn_emu::set_race_mode(true);
  launch_kernel(block_sum_kernel, 1, kThreads, 0, nullptr, in, out, true);
  expect_no_fault("race mode: a block sum with its barrier", host_copy(out, 1)[0] == block_total, "");
  // A race report names the launch: the emulator sees the result, not the access.
  const int race_launch_line = __LINE__ + 1;
  launch_kernel(block_sum_kernel, 1, kThreads, 0, nullptr, in, out, false);
  expect_fault("race mode: the block sum without its barrier is reported", "race", race_launch_line);
  kn_emu::set_race_mode(false);

  launch_kernel(reverse_kernel, 1, kThreads, kThreads * sizeof(float), nullptr, in, out);
  const std::vector<float> reversed = host_copy(out, kThreads);
  expect_no_fault("dynamic shared memory of the right size", reversed[0] == ramp[kThreads - 1] && reversed[kThreads - 1] == ramp[0], "");
  launch_kernel(reverse_kernel, 1, kThreads, (kThreads - 1) * sizeof(float), nullptr, in, out);
  expect_fault("an undersized dynamic shared buffer is reported", "wrote past the end", 0);

  launch_kernel(warp_sum_kernel, 1, kThreads, 0, nullptr, in, out, -1);
  const std::vector<float> warp_sums = host_copy(out, kThreads / 32);
  float first_warp = 0.f;
  for (int i = 0; i < 32; ++i) first_warp += ramp[i];
  expect_no_fault("a warp sum by shuffles", warp_sums[0] == first_warp, "");
  launch_kernel(warp_sum_kernel, 1, kThreads, 0, nullptr, in, out, 7);
  expect_fault("a lane returning before the shuffle its warp waits in is reported", "__shfl_down_sync", kShuffleLine);

  unsigned* ballots = device_copy(std::vector<unsigned>(kThreads, 0u));
  launch_kernel(butterfly_kernel, 1, kThreads, 0, nullptr, in, scratch, ballots);
  const std::vector<float> butterfly = host_copy(scratch, kThreads);
  const std::vector<unsigned> ballot = host_copy(ballots, kThreads);
  unsigned odd = 0;
  for (int i = 0; i < 32; ++i)
    if (int(ramp[i]) % 2 != 0) odd |= 1u << i;
  expect_no_fault("xor butterfly and ballot", butterfly[5] == first_warp && ballot[9] == odd, "");

  launch_kernel(divergent_barrier_kernel, 1, kThreads, 0, nullptr, out);
  expect_fault("a __syncthreads reached by half the block is reported", "__syncthreads", kDivergentBarrierLine);
  launch_kernel(deadlock_kernel, 1, kThreads, 0, nullptr, out);
  expect_fault("a deadlock between a shuffle and a barrier is reported", "deadlock", 0);

  launch_cooperative_kernel(grid_total_kernel, 4, kThreads, 0, nullptr, in, scratch, out);
  const std::vector<float> totals = host_copy(out, 4 * kThreads);
  expect_no_fault("a cooperative launch with a grid sync", totals[0] == grid_total && totals[4 * kThreads - 1] == grid_total, "");
  launch_kernel(grid_total_kernel, 4, kThreads, 0, nullptr, in, scratch, out);
  expect_fault("a grid sync in an ordinary launch is reported", "grid sync", 0);

  // The largest cooperative grid the emulator runs: a block of 256 threads on each of 132 SMs, far
  // more fibers than get a guard page (the rest have a canary).
  constexpr int kSms = 132, kWideThreads = 256;
  float* wide = device_copy(std::vector<float>(kSms * kWideThreads, -1.f));
  launch_cooperative_kernel(block_static_kernel, kSms, kWideThreads, 0, nullptr, wide);
  const std::vector<float> owners = host_copy(wide, kSms * kWideThreads);
  bool own_statics = true;
  for (int i = 0; i < kSms * kWideThreads; ++i) own_statics = own_statics && owners[i] == float(i / kWideThreads);
  expect_no_fault("132 cooperative blocks of 256 threads, each with its own static shared memory", own_statics, "");

  const int blocks_per_sm_limit = 2048 / kWideThreads;
  launch_cooperative_kernel(block_static_kernel, kSms * blocks_per_sm_limit + 1, kWideThreads, 0, nullptr, wide);
  const cudaError_t too_large = cudaGetLastError();
  report("a cooperative grid larger than the device holds at once is refused", too_large == cudaErrorCooperativeLaunchTooLarge,
         cudaGetErrorName(too_large));

  constexpr size_t kLargeShared = 64 * 1024;
  launch_kernel(reverse_kernel, 1, kThreads, kLargeShared, nullptr, in, out);
  const cudaError_t unraised = cudaGetLastError();
  report("more than 48 KiB of dynamic shared memory needs cudaFuncSetAttribute", unraised == cudaErrorInvalidValue,
         cudaGetErrorName(unraised));
  const void* reverse = reinterpret_cast<const void*>(reverse_kernel);
  const cudaError_t raised = cudaFuncSetAttribute(reverse, cudaFuncAttributeMaxDynamicSharedMemorySize, int(kLargeShared));
  launch_kernel(reverse_kernel, 1, kThreads, kLargeShared, nullptr, in, out);
  expect_no_fault("and runs once raised", raised == cudaSuccess && cudaGetLastError() == cudaSuccess, "");
  int resident = 0;
  cudaOccupancyMaxActiveBlocksPerMultiprocessor(&resident, reverse, kThreads, kLargeShared);
  report("the occupancy of a block with 64 KiB of shared memory is 3 blocks per SM", resident == 3, std::to_string(resident));

  printf("%d failed\n", failures);
  return failures == 0 ? 0 : 1;
}
