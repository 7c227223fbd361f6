// KN_HOST_DEVICE marks functions that compile both as C++ and as CUDA device code.
#pragma once

#if defined(__CUDACC__)
#define KN_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define KN_HOST_DEVICE inline
#endif
