#!/usr/bin/env bash
# The packed package installs and runs without a compiler, from its prebuilt addon: `npm pack`
# (with prebuilds/ from `npm run build:prebuilt`), install the tarball into an empty project with a
# PATH that holds node, npm and sh (npm runs install scripts with it) but no C or C++ compiler,
# make, cmake or nvcc (its dependencies come from the npm cache, or the registry where the cache
# lacks them), and run an op there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

ls "$root"/prebuilds/linux-x64/*.node >/dev/null  # fails when no prebuilt addon was made
tarball="$(cd "$root" && npm pack --ignore-scripts --silent --pack-destination "$work" | tail -n 1)"

mkdir "$work/bin" "$work/project"
ln -s "$(command -v node)" "$work/bin/node"
ln -s "$(command -v npm)" "$work/bin/npm"
ln -s "$(command -v sh)" "$work/bin/sh"
for tool in cc gcc g++ c++ clang make cmake ninja nvcc; do
  if PATH="$work/bin" command -v "$tool" >/dev/null; then echo "$tool is on the test PATH" >&2; exit 1; fi
done

cd "$work/project"
echo '{ "name": "no-compiler", "version": "1.0.0", "private": true }' > package.json
# KN_CUDA and KN_MPI unset: the default, in which a machine without nvcc and mpicc takes the prebuilt addon.
env -u KN_CUDA -u KN_MPI PATH="$work/bin" npm install --prefer-offline --foreground-scripts --no-audit --no-fund "$work/$tarball"
PATH="$work/bin" node -e "
const { Tensor, ops } = require('kalman-norm');
const x = Tensor.fromArray(Float32Array.from({ length: 8 }, (_, i) => i), [2, 2, 2]);
const { y } = ops.kalmanNorm(x);
console.log('kalman-norm ran an op without a compiler: y[0] =', y.toArray()[0].toFixed(4));
"
