// How the CUDA kernels divide a tensor among threads: which thread touches which element, for the
// reductions and the element passes alike. These
// are plain host+device functions: the kernels call them, and the CPU tests walk them over every
// thread of a launch to check that each element is covered exactly once, in bounds, and credited
// to the right cell (tools/native/plan_coverage.cpp). The plan depends on the shape and the vector
// width only, so results are deterministic.
//
// Reductions (statistics forward, gradient sums backward) leave one partial per (cell, chunk):
// - NCHW ("runs"): an item is a run of up to chunk_length contiguous elements of one cell, read by
//   one warp; lane l loads vectors l, l + 32, ... of the run. Small S with many cells gives one run
//   per cell; large S with few cells is split into several runs per cell (a split reduction whose
//   partials are merged in a second kernel, without atomics).
// - NHWC ("tiles"): an item is a block of rows (positions) of one sample times a tile of up to 32
//   channels; threadIdx.x walks the channels (coalesced: channels are contiguous), threadIdx.y the
//   rows, and the row lanes are merged in shared memory.
// The element passes (normalize, dx) walk the same items, so each thread's coefficients are fixed:
// one cell per run in NCHW, one channel per thread in NHWC.
#pragma once

#include "../csrc/common/norm_shape.h"

namespace kn {

constexpr int kWarp = 32;
constexpr int kBlockThreads = 256;
constexpr int64_t kTargetItems = 2048;  // enough warps / blocks to fill a large GPU
constexpr int64_t kMaxSteps = 32;       // loads per thread per item at most
constexpr int64_t kMinTileSteps = 4;    // NHWC: rows per row lane at least, so partials stay small next to x

KN_HOST_DEVICE int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
KN_HOST_DEVICE int64_t clamp64(int64_t value, int64_t low, int64_t high) {
  return value < low ? low : (value > high ? high : value);
}

struct ReductionPlan {
  NormShape shape;
  int vector_width = 1;      // NCHW: elements per load
  int64_t chunk_length = 1;  // NCHW: elements per run; NHWC: rows per tile
  int64_t chunks = 1;        // runs per cell (NCHW) or row blocks per sample (NHWC)
  int tile_channels = 1;     // NHWC: blockDim.x
  int row_lanes = 1;         // NHWC: blockDim.y
  int64_t channel_tiles = 1; // NHWC

  KN_HOST_DEVICE bool runs() const { return shape.layout == Layout::kNCHW; }
  KN_HOST_DEVICE int64_t items() const {
    return runs() ? shape.cells() * chunks : shape.samples * chunks * channel_tiles;
  }
  // Blocks of kBlockThreads threads: a warp per item (NCHW), a block per item (NHWC).
  KN_HOST_DEVICE int64_t blocks() const { return runs() ? ceil_div(items(), kBlockThreads / kWarp) : items(); }
  // Loads of one tensor per thread in one block at most.
  KN_HOST_DEVICE int64_t steps_per_block() const {
    return runs() ? chunk_length / (int64_t(kWarp) * vector_width) : chunk_length / row_lanes;
  }
  KN_HOST_DEVICE int64_t partials() const { return shape.cells() * chunks; }
  // Where the partial of (sample, channel, chunk) is stored (the same scheme as the CPU's).
  KN_HOST_DEVICE int64_t partial_index(int64_t sample, int64_t channel, int64_t chunk) const {
    if (runs()) return (sample * shape.channels + channel) * chunks + chunk;
    return (sample * chunks + chunk) * shape.channels + channel;
  }
};

// `vector_width`: elements per 16-byte load when every base address is 16-byte aligned, else 1.
KN_HOST_DEVICE ReductionPlan make_reduction_plan(const NormShape& shape, int vector_width) {
  ReductionPlan plan;
  plan.shape = shape;
  const int64_t spatial = shape.spatial;
  if (shape.layout == Layout::kNCHW) {
    plan.vector_width = spatial % vector_width == 0 ? vector_width : 1;
    const int64_t step = int64_t(kWarp) * plan.vector_width;
    const int64_t wanted = ceil_div(kTargetItems, shape.cells());
    int64_t chunks = clamp64(wanted, ceil_div(spatial, step * kMaxSteps), ceil_div(spatial, step));
    plan.chunk_length = ceil_div(ceil_div(spatial, chunks), step) * step;
  } else {
    plan.tile_channels = int(shape.channels < kWarp ? shape.channels : kWarp);
    plan.row_lanes = kBlockThreads / plan.tile_channels;
    plan.channel_tiles = ceil_div(shape.channels, plan.tile_channels);
    const int64_t wanted = ceil_div(kTargetItems, shape.samples * plan.channel_tiles);
    int64_t chunks = clamp64(wanted, ceil_div(spatial, plan.row_lanes * kMaxSteps), ceil_div(spatial, plan.row_lanes * kMinTileSteps));
    plan.chunk_length = ceil_div(ceil_div(spatial, chunks), plan.row_lanes) * plan.row_lanes;
  }
  plan.chunks = ceil_div(spatial, plan.chunk_length);
  return plan;
}

// NCHW: one run of one cell.
struct RunItem {
  int64_t cell;
  int64_t chunk;
  int64_t start;   // memory index of the run's first element
  int64_t length;  // elements in the run (a multiple of the vector width)
};

KN_HOST_DEVICE RunItem run_item(const ReductionPlan& plan, int64_t item) {
  RunItem run;
  run.cell = item / plan.chunks;
  run.chunk = item % plan.chunks;
  const int64_t begin = run.chunk * plan.chunk_length;
  const int64_t rest = plan.shape.spatial - begin;
  run.length = rest < plan.chunk_length ? rest : plan.chunk_length;
  run.start = run.cell * plan.shape.spatial + begin;
  return run;
}

// The first element of the vector that `lane` loads at `step`, or -1 past the run's end.
KN_HOST_DEVICE int64_t run_element(const ReductionPlan& plan, const RunItem& run, int lane, int64_t step) {
  const int64_t offset = (step * kWarp + lane) * plan.vector_width;
  return offset < run.length ? run.start + offset : -1;
}

// NHWC: rows [row_begin, row_begin + rows) of one sample, channels [channel_begin, + channels).
struct TileItem {
  int64_t sample;
  int64_t chunk;
  int64_t row_begin;
  int64_t rows;
  int64_t channel_begin;
  int64_t channels;
};

KN_HOST_DEVICE TileItem tile_item(const ReductionPlan& plan, int64_t item) {
  TileItem tile;
  const int64_t per_sample = plan.chunks * plan.channel_tiles;
  tile.sample = item / per_sample;
  tile.chunk = (item % per_sample) / plan.channel_tiles;
  const int64_t channel_tile = item % plan.channel_tiles;
  tile.row_begin = tile.chunk * plan.chunk_length;
  const int64_t rows_left = plan.shape.spatial - tile.row_begin;
  tile.rows = rows_left < plan.chunk_length ? rows_left : plan.chunk_length;
  tile.channel_begin = channel_tile * plan.tile_channels;
  const int64_t channels_left = plan.shape.channels - tile.channel_begin;
  tile.channels = channels_left < plan.tile_channels ? channels_left : plan.tile_channels;
  return tile;
}

// The element that thread (channel lane, row lane) reads at `step`, or -1 when there is none.
KN_HOST_DEVICE int64_t tile_element(const ReductionPlan& plan, const TileItem& tile, int channel_lane,
                                    int row_lane, int64_t step) {
  const int64_t row = row_lane + step * plan.row_lanes;
  if (channel_lane >= tile.channels || row >= tile.rows) return -1;
  const NormShape& shape = plan.shape;
  return (tile.sample * shape.spatial + tile.row_begin + row) * shape.channels + tile.channel_begin + channel_lane;
}

}  // namespace kn
