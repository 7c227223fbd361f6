# What the product addon (../CMakeLists.txt) and the tools addon (../tools/native/CMakeLists.txt)
# are both built with: C++20, Release unless asked, and the KN_CUDA mode (auto, on, off or
# emulate), from -DKN_CUDA or the KN_CUDA environment variable (so `KN_CUDA=on npm install` works).
set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
if(NOT CMAKE_BUILD_TYPE)
  set(CMAKE_BUILD_TYPE Release)
endif()

if(DEFINED ENV{KN_CUDA})
  set(kn_cuda_default "$ENV{KN_CUDA}")
else()
  set(kn_cuda_default auto)
endif()
set(KN_CUDA ${kn_cuda_default} CACHE STRING "Build the CUDA part: auto, on, off or emulate")
set_property(CACHE KN_CUDA PROPERTY STRINGS auto on off emulate)
