// What the SIMT emulator can say about the work it ran, for tests and benchmarks of the emulated
// build (KN_CUDA=emulate), and the knobs its own tests turn.
#pragma once

#include <stdint.h>

#include "runtime_api.h"

namespace kn_emu {

// Cumulative since the process started. Bytes count device (global) memory read and written by
// copies, memsets and kernels; a kernel's bytes are its distinct 32-byte sectors (traffic.h), the
// DRAM traffic of a GPU whose caches hold one kernel's footprint: a value many threads load counts
// once per kernel, a tensor two kernels read counts twice. Host
// transfers are copies between host and device memory; host waits are calls that block the host
// until the device is done (a synchronize, a blocking copy or memset): neither can be in a step
// that is captured into a CUDA graph. Grid syncs are those the cooperative kernels went through.
struct Counters {
  uint64_t launches;
  uint64_t allocations;
  uint64_t bytes_read;
  uint64_t bytes_written;
  uint64_t host_transfers;
  uint64_t host_waits;
  uint64_t grid_syncs;
};
Counters counters();

// Race mode: every launch runs twice from the same memory, threads and blocks in ascending and
// then descending order, and a difference in what it wrote is reported as a fault (a missing
// barrier or a race). Also on with the environment variable KN_EMULATE_RACE=1.
void set_race_mode(bool on);

// Holds each operation of `stream` back by `microseconds` before it runs: a slow stream, so a
// test can show work that is not ordered after it.
cudaError_t set_stream_delay(cudaStream_t stream, unsigned microseconds);

// The text of the last fault reported by a kernel ("" if none).
const char* last_fault();

}  // namespace kn_emu
