# KN_SANITIZE=ON: the addon with AddressSanitizer and UndefinedBehaviorSanitizer (`npm run
# test:asan` builds it CPU-only into build-asan/ and runs the suite and the fuzzer against it, with
# g++'s libasan preloaded into Node). A UBSan finding aborts the run instead of printing and going on.
option(KN_SANITIZE "Build the addon with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
if(KN_SANITIZE)
  set(kn_sanitizers -fsanitize=address,undefined -fno-sanitize-recover=undefined)
  target_compile_options(kalman_norm PRIVATE ${kn_sanitizers} -fno-omit-frame-pointer -g)
  target_link_options(kalman_norm PRIVATE ${kn_sanitizers})
  message(STATUS "kalman-norm: AddressSanitizer and UndefinedBehaviorSanitizer on")
endif()
