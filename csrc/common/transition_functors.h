// The list of transition functors (transition_math.h, pool_math.h, group_math.h) that both
// backends run, for the declarations and explicit instantiations that must name each of them.
#pragma once

#include "group_math.h"
#include "index_ranges.h"
#include "pool_math.h"
#include "covariance_math.h"
#include "transition_math.h"

namespace kn {

// The parts of one node's backward, run as one launch (index_ranges.h): the input and weight
// gradients and the bias and noise sums of an affine node; a normalize node's input gradients,
// then gamma's and beta's; a quadratic node's weight gradient, then the bias and noise sums.
using AffineBackward = Then<Then<Then<AffineInputGradient, AffineWeightGradient>, ColumnSums>, ColumnSums>;
using NormalizeMomentsBackward = Then<Then<NormalizeBackward, NormalizeGammaGradient>, ColumnSums>;
using QuadraticBackward = Then<Then<QuadraticWeightGradient, ColumnSums>, ColumnSums>;

}  // namespace kn

// The input node and covariance functors (covariance_math.h).
#define KN_COVARIANCE_FUNCTORS(X) \
  X(GatherPatches)                \
  X(ColumnMeans)                  \
  X(CenterColumns)                \
  X(BlendInto)                    \
  X(VarianceUpdate)               \
  X(QuadraticForward)             \
  X(QuadraticBackward)            \
  X(StackFactor)                  \
  X(DroppedDiagonal)

#define KN_TRANSITION_FUNCTORS(X) \
  X(AffineForward)                \
  X(AffineBackward)               \
  X(ColumnSums)                   \
  X(ReluForward)                  \
  X(LocalChain)                   \
  X(AvgPoolMoments)               \
  X(MaxPoolForward)               \
  X(GroupMomentsForward)          \
  X(GroupMomentsBackward)         \
  X(NormalizeForward)             \
  X(NormalizeMomentsBackward)     \
  X(AddForward)                   \
  X(GatherColumns)                \
  X(ConvTransitionForward)        \
  X(ConvTransitionBackward)       \
  X(Accumulate)                   \
  KN_COVARIANCE_FUNCTORS(X)
