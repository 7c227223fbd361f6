// The SIMT emulator's stand-in for CUDA's cuda_runtime.h (nvcc includes it into every .cu file;
// the emulated build force-includes it).
#pragma once

#include "../runtime_api.h"
#include "cuda_bf16.h"
#include "cuda_fp16.h"
