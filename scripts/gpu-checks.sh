#!/usr/bin/env bash
# One GPU session's checks, from a bundle made by scripts/gpu-bundle.sh, in the order that matters
# when time runs short: scripts/gpu-run.sh (the GPU suite and the short benchmark), the quick
# benchmark against cuDNN, compute-sanitizer's memcheck and racecheck on the kernels' tests, ncu's
# time of each kernel of a few training steps, then the full benchmark for whatever time is left.
# Each step has its own time limit and a failing step does not stop the next. Everything lands in
# one archive, OUT_DIR/gpu-checks.tar.gz.
#   bash gpu-checks.sh OUT_DIR [SECONDS]      (SECONDS: the whole run's budget, default 540; the
#   full benchmark alone needs more than 6 minutes on an H200)
set -uo pipefail

bundle="$(cd "$(dirname "$0")/.." && pwd)"
out="$(realpath -m "${1:?usage: gpu-checks.sh OUT_DIR [SECONDS]}")"
deadline=$(($(date +%s) + ${2:-540}))
cd "$bundle"
logs="$bundle/checks"
rm -rf "$logs"
mkdir -p "$logs" "$out"
export KN_ADDON_PATH="$bundle/build/Release/kalman_norm.node"
export KN_TOOLS_ADDON_PATH="$bundle/build-tools/Release/kalman_norm_tools.node"

# cuDNN for the peer column: the system's, else the one PyTorch's wheels carry.
if [[ -z ${KN_CUDNN_PATH:-} ]]; then
  KN_CUDNN_PATH="$(find /usr /opt -name 'libcudnn.so.9' 2>/dev/null | head -1)"
  [[ -n $KN_CUDNN_PATH ]] && export KN_CUDNN_PATH LD_LIBRARY_PATH="$(dirname "$KN_CUDNN_PATH")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
echo "cuDNN: ${KN_CUDNN_PATH:-not found}"

# step NAME LIMIT COMMAND...: runs COMMAND for at most LIMIT seconds (less if the deadline is
# nearer), logging to checks/NAME.log and its status to checks/status.txt.
step() {
  local name=$1 limit=$2
  shift 2
  local left=$((deadline - $(date +%s) - 10))
  ((left < limit)) && limit=$left
  if ((limit < 20)); then
    echo "$name: skipped (no time left)" | tee -a "$logs/status.txt"
    return
  fi
  echo "== $name (at most $limit s)"
  local started=$SECONDS
  timeout -k 5 "$limit" "$@" >"$logs/$name.log" 2>&1
  local status=$?
  echo "$name: exit $status after $((SECONDS - started)) s" | tee -a "$logs/status.txt"
  tail -n 15 "$logs/$name.log"
}

node=bin/node
# Mocha with only the files named: the bundle's package.json carries the repository's mocha
# settings, whose spec list names tests that are not in the bundle.
mocha=("$node" node_modules/mocha/bin/mocha.js --no-config --no-package --timeout 300000)
gpu_tests=build-test/test/gpu

step gpu-run 240 bash scripts/gpu-run.sh "$bundle"
[[ -x $node ]] || { echo "gpu-checks: the Node binary was not unpacked" >&2; exit 1; }
step bench-quick 90 "$node" dist/scripts/bench/bench.js --device cuda --quick \
  --json "$logs/bench-quick.json" --markdown "$logs/bench-quick.md"
if command -v compute-sanitizer >/dev/null; then
  # On an H200 (2026-11-30): memcheck over the suite took 150 s, racecheck over these 90 tests 60 s.
  step memcheck 200 compute-sanitizer --tool memcheck --error-exitcode 9 "${mocha[@]}" \
    --spec "$gpu_tests/**/*.test.js" --spec build-test/test/half.test.js
  step racecheck 100 compute-sanitizer --tool racecheck --error-exitcode 9 "${mocha[@]}" \
    "$gpu_tests/persistent-pass.test.js" "$gpu_tests/reduction-plans.test.js" "$gpu_tests/forward-backward.test.js"
else
  echo "compute-sanitizer: not on this machine" | tee -a "$logs/status.txt"
fi
# Each kernel's own time (ncu replays it alone), to split a pass's time into kernels and host gaps.
ncu="$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | tail -1)"
if [[ -n $ncu ]]; then
  step ncu 120 "$ncu" --clock-control none --metrics gpu__time_duration.sum --csv --log-file "$logs/ncu.csv" \
    "$node" dist/scripts/bench/kernel-steps.js kn:2x64x56x56:NCHW kn:2x64x56x56:NHWC kn:4x256x14x14:NCHW \
    kn:32x2048x7x7:NCHW kn:32x2048x7x7:NHWC kn:32x64x56x56:NHWC gkn:2x64x56x56:NCHW
else
  echo "ncu: not on this machine" | tee -a "$logs/status.txt"
fi
step bench-full 600 "$node" dist/scripts/bench/bench.js --device cuda \
  --json "$logs/bench-full.json" --markdown "$logs/bench-full.md"

cp -R report "$logs/" 2>/dev/null
tar -czf "$out/gpu-checks.tar.gz" -C "$bundle" checks
cat "$logs/status.txt"
