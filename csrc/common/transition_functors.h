// The list of transition functors (transition_math.h, pool_math.h, group_math.h) that both
// backends run, for the declarations and explicit instantiations that must name each of them.
#pragma once

#include "group_math.h"
#include "pool_math.h"
#include "covariance_math.h"
#include "transition_math.h"

// The input node and covariance functors (covariance_math.h).
#define KN_COVARIANCE_FUNCTORS(X) \
  X(GatherPatches)                \
  X(ColumnMeans)                  \
  X(CenterColumns)                \
  X(BlendInto)                    \
  X(VarianceUpdate)               \
  X(QuadraticForward)             \
  X(QuadraticWeightGradient)      \
  X(StackFactor)                  \
  X(DroppedDiagonal)

#define KN_TRANSITION_FUNCTORS(X) \
  X(AffineForward)                \
  X(AffineInputGradient)          \
  X(AffineWeightGradient)         \
  X(ColumnSums)                   \
  X(ReluForward)                  \
  X(LocalChain)                   \
  X(AvgPoolMoments)               \
  X(MaxPoolForward)               \
  X(GroupMomentsForward)          \
  X(GroupMomentsBackward)         \
  X(NormalizeForward)             \
  X(NormalizeBackward)            \
  X(NormalizeGammaGradient)       \
  X(AddForward)                   \
  X(GatherColumns)                \
  X(ConvTransitionForward)        \
  X(ConvTransitionBackward)       \
  X(Accumulate)                   \
  KN_COVARIANCE_FUNCTORS(X)
