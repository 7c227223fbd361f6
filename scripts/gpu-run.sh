#!/usr/bin/env bash
# Runs the GPU suite and a short benchmark from a folder made by scripts/gpu-bundle.sh, on a
# machine that needs neither Node.js nor a network, and writes BUNDLE/report/: REPORT.md (the
# summary), mocha.json, the logs, and what nvidia-smi and cudaInfo() said.
#   bash gpu-run.sh [BUNDLE_DIR]      (default: the bundle this script sits in)
# Exits non-zero when a test failed, the benchmark failed, or no GPU test ran: without a usable GPU
# the GPU tests come out pending (REPORT.md says why), the benchmark is skipped and the run fails,
# so a GPU job is never green with nothing checked on the GPU.
set -euo pipefail

bundle="$(cd "${1:-"$(dirname "$0")/.."}" && pwd)"
cd "$bundle"
[[ -f bundle-info.txt ]] || { echo "gpu-run: $bundle is not a bundle made by scripts/gpu-bundle.sh" >&2; exit 1; }
report="$bundle/report"
# The addons this bundle carries, wherever the caller's environment points.
export KN_ADDON_PATH="$bundle/build/Release/kalman_norm.node"
export KN_TOOLS_ADDON_PATH="$bundle/build-tools/Release/kalman_norm_tools.node"

# The Node binary and the addon travel xz-compressed; unpack them on first use.
unpack() { # unpack FILE.xz TARGET
  [[ -e $2 ]] && return
  echo "== unpacking $1"
  mkdir -p "$(dirname "$2")"
  if command -v xz >/dev/null; then
    xz -dc "$1" >"$2.partial"
  elif command -v python3 >/dev/null; then
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2.partial"
  else
    echo "gpu-run: unpacking $1 needs xz or python3" >&2
    exit 1
  fi
  chmod +x "$2.partial"
  mv "$2.partial" "$2"
}
node="$bundle/bin/node"
unpack node.xz "$node"
unpack "$KN_ADDON_PATH.xz" "$KN_ADDON_PATH"
echo "== node $("$node" --version)"

rm -rf "$report"
mkdir -p "$report"
cp bundle-info.txt "$report/"

# What the driver sees. Its absence is not an error here: cudaInfo() and the suite report it.
echo "== nvidia-smi"
if command -v nvidia-smi >/dev/null && nvidia-smi; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >"$report/gpu.csv"
else
  echo "(nvidia-smi missing or failed)"
fi

echo "== cudaInfo()"
available=false
if "$node" -e 'console.log(JSON.stringify(require("./dist/lib").cudaInfo(), null, 2))' >"$report/cuda-info.json"; then
  cat "$report/cuda-info.json"
  available="$("$node" -p 'require(process.argv[1]).available' "$report/cuda-info.json")"
else
  rm -f "$report/cuda-info.json"
  echo "(cudaInfo() failed: the addon did not load; the suite will fail)"
fi

echo "== GPU suite"
set +e
"$node" node_modules/mocha/bin/mocha.js --config gpu-suite.mocharc.json \
  --reporter dist/scripts/gpu-reporter.js --reporter-option "output=$report/mocha.json" 2>&1 | tee "$report/mocha.log"
tests_status=${PIPESTATUS[0]}
set -e

if [[ ! -f dist/scripts/gpu-benchmark.js ]]; then
  benchmark_status="dist/scripts/gpu-benchmark.js is not in this bundle"
elif [[ $available != true ]]; then
  benchmark_status="no usable GPU"
else
  echo "== benchmark"
  set +e
  "$node" dist/scripts/gpu-benchmark.js --json "$report/benchmark.json" 2>&1 | tee "$report/benchmark.log"
  benchmark_status=${PIPESTATUS[0]}
  set -e
fi

echo "== report/REPORT.md"
"$node" dist/scripts/gpu-report.js "$report" "$tests_status" "$benchmark_status"
cat "$report/REPORT.md"

if [[ $tests_status != 0 ]]; then
  echo "gpu-run: the GPU suite failed (mocha exit status $tests_status)" >&2
  exit 1
fi
if [[ $benchmark_status =~ ^[0-9]+$ && $benchmark_status != 0 ]]; then
  echo "gpu-run: the benchmark failed (exit status $benchmark_status)" >&2
  exit 1
fi
if [[ $available != true ]]; then
  echo "gpu-run: no GPU test ran: cudaInfo() reports no usable GPU (see $report/REPORT.md)" >&2
  exit 1
fi
pending="$("$node" -p 'require(process.argv[1]).stats.pending' "$report/mocha.json" 2>/dev/null || echo unknown)"
if [[ $pending != 0 ]]; then
  echo "gpu-run: $pending GPU tests did not run (pending)" >&2
  exit 1
fi
