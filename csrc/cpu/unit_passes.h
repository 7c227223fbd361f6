// Fused passes of the CPU backend for NCHW calls whose units fit in the cache: each work item is one
// unit, reduced and then written while its elements are in the cache, so x (and dy) come from memory
// once. They call the same chunk kernels, shared per-unit functions and element rows as the separate
// passes, in the same order, so results have the same bits.
#pragma once

#include "../common/kalman_norm_call.h"
#include "../common/kalman_norm_math.h"

namespace kn {

enum class UnitPass { kForward, kBackward };

// Whether the fused passes take a whole call of this shape: NCHW units that fit in the cache, where
// reading them once was measured faster. Depends on the shape alone, so a shape always takes the
// same path whatever the thread count.
bool unit_passes_fit(const NormShape& shape, UnitPass pass);

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
