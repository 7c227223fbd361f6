// The SIMT emulator's stand-in for CUDA's cuda_bf16.h.
#pragma once

#include "../half_types.h"
