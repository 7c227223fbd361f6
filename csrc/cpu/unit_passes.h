// Fused passes of the CPU backend for calls whose units are small: each work item is whole units
// (a unit row's samples by a block of channels), reduced and then written while its elements are in
// the cache, so x (and dy) come from memory once. They call the same chunk kernels, shared per-unit
// functions and element rows as the separate passes, in the same order, so results have the same bits.
#pragma once

#include "../common/kalman_norm_call.h"
#include "../common/kalman_norm_math.h"

namespace kn {

// Whether the fused passes take a call of this shape: an item's elements fit in the cache. Depends on
// the shape alone, so a shape always takes the same path whatever the thread count.
bool unit_passes_fit(const NormShape& shape);

// Forward in training mode, a whole call (CallPart::kWhole): per item, the moments of its cells,
// each unit's observation, its posterior as if the guard does not fire (fused with the prior when one
// is given) and y over the item's elements. The caller decides the guard afterwards; when it fires,
// the caller writes the posteriors without the prior and normalizes again.
void fused_training_forward(const TrainingForward& args);

// Backward, a whole call: per item, the gradient sums of its cells (around the posterior mean), each
// unit's backward (written to units[unit]) and dx (and dresidual) over the item's elements; then
// dgamma and dbeta. `fused`: prior_used() of the forward.
void fused_backward(const Backward& args, bool fused, UnitBackward<float>* units);

}  // namespace kn
