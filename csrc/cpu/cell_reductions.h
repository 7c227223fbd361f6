// The two reduction passes of the CPU backend: per-cell moments of x (forward statistics) and
// per-cell gradient sums over (x, dy) (backward). A cell is one (sample, channel) pair; results
// are indexed sample * C + channel. Both are deterministic for a given shape.
#pragma once

#include "../common/kalman_norm_cells.h"
#include "../common/kalman_norm_math.h"
#include "../common/norm_shape.h"

namespace kn {

// Moments (count S, mean, m2) of every cell's elements. One read of x; inside each cache-sized
// chunk, sums of deviations from a shift inside the data (NCHW: the chunk's mean, from a first
// sweep; NHWC: the channel's first value in the chunk), so shifted data (1e4 + N(0,1)) keeps its
// variance; chunks and cells are merged in double with Chan's formula.
void cell_moments(const NormShape& shape, const float* x, Moments<double>* cells);

// The shape the forward's moments are taken over: in NCHW a unit of one sample (GKN's group) is one
// contiguous run of its cells, so it is reduced as the one cell of a shape whose channels are the
// units (long runs vectorize; GKN's cells at small spatial sizes are a few dozen floats each).
// Units keep their order.
inline NormShape reduced_shape(const NormShape& shape) {
  if (shape.layout != Layout::kNCHW || shape.samples_per_unit != 1 || shape.channels_per_unit == 1) return shape;
  NormShape runs = shape;
  runs.channels = shape.unit_cols();
  runs.spatial = shape.spatial * shape.channels_per_unit;
  runs.channels_per_unit = 1;
  return runs;
}

// Per cell: sums of dy' and dy' (x - center), centered on the cell's unit's value in `unit_center`
// (per unit), where dy' = dy, or dy where relu_output > 0 when relu_output is given (the forward's
// relu epilogue). GradientSums is the shared struct of kalman_norm_cells.h, in double.
void cell_gradient_sums(const NormShape& shape, const float* x, const float* dy,
                        const float* relu_output, const float* unit_center, GradientSums<double>* cells);

}  // namespace kn
