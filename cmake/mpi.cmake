# The MPI engine of the communicator (lib/distributed/mpi.ts): kn_mpi.node, a second addon beside
# kalman_norm.node in the same output folder, so that the product addon never links MPI.
#   KN_MPI=auto|on|off  auto: build it when MPI is found; on: MPI is required; off: never build it.
#   Set it with `cmake-js compile --CDKN_MPI=on`, or with the KN_MPI environment variable (so that
#   `KN_MPI=on npm install` works too). On Debian, MPI is `apt-get install openmpi-bin libopenmpi-dev`.
kn_mode(KN_MPI "Build the MPI engine kn_mpi.node: auto, on or off" kn_mpi_mode auto on off)
if(kn_mpi_mode STREQUAL "off")
  message(STATUS "kalman-norm: MPI off (KN_MPI=off)")
  return()
endif()

# FindMPI's C component needs the C language enabled (no C is compiled); its CXX component would
# link the deprecated MPI C++ bindings (libmpi_cxx), which the engine does not use.
include(CheckLanguage)
check_language(C)
if(CMAKE_C_COMPILER)
  enable_language(C)
  find_package(MPI COMPONENTS C)
endif()
if(NOT MPI_C_FOUND)
  if(kn_mpi_mode STREQUAL "on")
    message(FATAL_ERROR "KN_MPI=on but no MPI was found: install libopenmpi-dev and openmpi-bin (Debian), "
                        "or set KN_MPI=off")
  endif()
  message(STATUS "kalman-norm: MPI off (no MPI found; on Debian: apt-get install openmpi-bin libopenmpi-dev)")
  return()
endif()
message(STATUS "kalman-norm: MPI on (${MPI_C_LIBRARIES}, MPI ${MPI_C_VERSION})")

add_library(kn_mpi SHARED ${CMAKE_CURRENT_SOURCE_DIR}/csrc/mpi/mpi_addon.cpp
                          ${CMAKE_CURRENT_SOURCE_DIR}/csrc/mpi/mpi_world.cpp ${CMAKE_JS_SRC})
set_target_properties(kn_mpi PROPERTIES PREFIX "" SUFFIX ".node")
target_include_directories(kn_mpi SYSTEM PRIVATE ${CMAKE_JS_INC})
# OMPI_SKIP_MPICXX, MPICH_SKIP_MPICXX: mpi.h in C++ without the MPI C++ bindings.
target_compile_definitions(kn_mpi PRIVATE NAPI_VERSION=8 NAPI_CPP_EXCEPTIONS NODE_ADDON_API_CPP_EXCEPTIONS_ALL
                                          NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS OMPI_SKIP_MPICXX MPICH_SKIP_MPICXX)
target_compile_options(kn_mpi PRIVATE -Wall -Wextra -Werror)
target_link_libraries(kn_mpi PRIVATE ${CMAKE_JS_LIB} MPI::MPI_C ${CMAKE_DL_LIBS})
