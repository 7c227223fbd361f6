#!/usr/bin/env bash
# Packs everything the GPU suite needs into one folder, for a GPU runner that may be offline and
# may have no Node.js: this Node binary and the built addon (xz-compressed), the tools addon (CUDA
# event timing and the cuDNN peer for the benchmark), dist/, the compiled tests, the run-time
# packages of mocha and chai (nothing else from node_modules), a mocha config for the GPU suite,
# and scripts/gpu-run.sh, which runs it all there (scripts/gpu-checks.sh adds the full benchmark and
# compute-sanitizer).
#   bash scripts/gpu-bundle.sh [OUT_DIR]      (default gpu-bundle/)
# Run it after `npm install` (`KN_CUDA=on` for a CUDA build) and `npm run pretest` (which builds
# the tools addon, with CUDA where the toolkit is found).
set -euo pipefail

out="$(realpath -m "${1:-gpu-bundle}")"
root="$(cd "$(dirname "$0")/.." && pwd)"
max_mib=64

fail() {
  echo "gpu-bundle: $*" >&2
  exit 1
}

cd "$root"
command -v xz >/dev/null || fail "xz is needed to compress the Node binary"
[[ -f build/Release/kalman_norm.node ]] || fail "build/Release/kalman_norm.node is missing: run npm install"
tools_addon=build-tools/Release/kalman_norm_tools.node
[[ -f $tools_addon ]] || fail "$tools_addon is missing: run npm run build:tools"
[[ "$(node -p "require('./$tools_addon').cudaBuilt")" == true ]] ||
  fail "$tools_addon was built without CUDA: build it where the CUDA toolkit is found (KN_CUDA=on npm run build:tools)"
[[ -f dist/lib/index.js && -f dist/scripts/gpu-report.js && -f dist/scripts/gpu-reporter.js ]] ||
  fail "dist/ is missing or stale: run npm run build:ts"
if [[ ! -d build-test ]]; then
  echo "== compiling the tests: npx tsc -p test/tsconfig.json"
  npx tsc -p test/tsconfig.json
fi
[[ -d build-test/test/gpu ]] || fail "build-test/ has no test/gpu (stale): run npm run pretest"

# Replace a previous bundle, never a folder that is something else.
if [[ -e $out ]]; then
  [[ -f $out/bundle-info.txt || -z "$(ls -A "$out")" ]] || fail "$out exists and is not a GPU bundle"
  rm -rf "$out"
fi
mkdir -p "$out/build/Release" "$out/build-tools/Release" "$out/scripts"

node_binary="$(node -p process.execPath)"
echo "== Node $(node --version) from $node_binary: xz -T0 -9"
xz -T0 -9 -c "$node_binary" >"$out/node.xz"

echo "== the addon, the tools addon, dist/, build-test/, package.json, scripts/gpu-run.sh"
# The addon is mostly machine code for two GPU generations: 22 MB, 2 MB compressed.
xz -T0 -6 -c build/Release/kalman_norm.node >"$out/build/Release/kalman_norm.node.xz"
cp "$tools_addon" "$out/build-tools/Release/"
cp -R dist build-test "$out/"
cp package.json "$out/"
cp scripts/gpu-run.sh scripts/gpu-checks.sh "$out/scripts/"

echo "== node_modules: mocha and chai with their dependencies"
# The packages (with nested copies) that mocha and chai reach, found as Node resolves them: a
# dependency sits in the nearest node_modules above the package that needs it. Optional ones are
# left out. (npm query overflows its stack on this workspace's links.)
locations="$(node -e '
  const fs = require("fs");
  const path = require("path");
  const found = new Set();
  function visit(name, from) {
    for (let dir = from; ; dir = path.dirname(dir)) {
      const location = path.relative(".", path.join(dir, "node_modules", name));
      if (fs.existsSync(path.join(location, "package.json"))) {
        if (found.has(location)) return;
        found.add(location);
        const manifest = JSON.parse(fs.readFileSync(path.join(location, "package.json"), "utf8"));
        for (const dependency of Object.keys(manifest.dependencies ?? {})) visit(dependency, location);
        return;
      }
      if (dir === path.dirname(dir) || path.relative(".", dir) === "") return;
    }
  }
  visit("mocha", ".");
  visit("chai", ".");
  console.log([...found].sort().join("\n"));
')"
[[ -n $locations ]] || fail "found no mocha or chai in node_modules: run npm install"
count=0
while read -r location; do
  # A nested package came along with the package it is nested in.
  [[ -e $out/$location ]] || cp -R --parents "$location" "$out/"
  count=$((count + 1))
done <<<"$locations"
# Command shims (symbolic links) are not needed: gpu-run.sh starts mocha by its script.
find "$out/node_modules" -name .bin -prune -exec rm -rf {} +
echo "$count packages"

cat >"$out/gpu-suite.mocharc.json" <<'EOF'
{
  "spec": ["build-test/test/gpu/**/*.test.js", "build-test/test/half.test.js"],
  "timeout": 300000
}
EOF

cat >"$out/bundle-info.txt" <<EOF
commit: $(git describe --always --dirty 2>/dev/null || echo "${GITHUB_SHA:-unknown}")
built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -sm)
node: $(node --version)
EOF

du -sh "$out"
size_mib=$(($(du -sk "$out" | cut -f1) / 1024))
((size_mib < max_mib)) || fail "the bundle is $size_mib MiB, over the $max_mib MiB limit"
echo "== bundle ready: bash $out/scripts/gpu-run.sh $out"
