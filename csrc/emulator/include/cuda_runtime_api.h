// The SIMT emulator's stand-in for CUDA's cuda_runtime_api.h.
#pragma once

#include "../runtime_api.h"
