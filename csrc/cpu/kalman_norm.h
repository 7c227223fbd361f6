// The CPU backend of KN and GKN: float32 tensors, spread over the thread pool.
#pragma once

#include "../common/kalman_norm_call.h"

namespace kn {

void kalman_norm_forward_training(const TrainingForward& args);

void kalman_norm_forward_fixed(const FixedStatisticsForward& args);

void kalman_norm_backward(const Backward& args);

}  // namespace kn
