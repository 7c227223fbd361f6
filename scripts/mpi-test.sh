#!/usr/bin/env bash
# npm run test:mpi: runs each MPI child, build-test/test/distributed/mpi-*.js (compiled from
# test/distributed/mpi-*.ts by `npm run test:mpi` first), under `mpirun -np 2`, each within
# MPI_TEST_TIMEOUT seconds (default 120); fails naming every child that failed. The children find
# the addons as the library does: KN_ADDON_PATH (and kn_mpi.node beside it) or build/Release, so
#   KN_ADDON_PATH="$PWD/build-emulate/Release/kalman_norm.node" npm run test:mpi
# runs them on the emulated CUDA build. Needs Open MPI's mpirun (Debian: openmpi-bin).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v mpirun >/dev/null 2>&1; then
  echo "mpi-test: no mpirun on PATH: install openmpi-bin and libopenmpi-dev (Debian), then rebuild (KN_MPI=on)" >&2
  exit 1
fi
shopt -s nullglob
children=(build-test/test/distributed/mpi-*.js)
if [ "${#children[@]}" -eq 0 ]; then
  echo "mpi-test: no build-test/test/distributed/mpi-*.js: compile the tests first (npx tsc -p test/tsconfig.json)" >&2
  exit 1
fi

# --oversubscribe: two ranks even where fewer cores are free; mpirun refuses root without --allow-run-as-root.
launch=(timeout "${MPI_TEST_TIMEOUT:-120}" mpirun -np 2 --oversubscribe)
if [ "$(id -u)" -eq 0 ]; then launch+=(--allow-run-as-root); fi

echo "mpi-test: core addon ${KN_ADDON_PATH:-build/Release/kalman_norm.node}"
failed=()
for child in "${children[@]}"; do
  echo "== mpirun -np 2 node $child"
  start=$SECONDS
  status=0
  "${launch[@]}" node "$child" || status=$?
  if [ "$status" -eq 124 ]; then echo "mpi-test: $child timed out" >&2; fi
  echo "== $child: exit $status ($((SECONDS - start)) s)"
  if [ "$status" -ne 0 ]; then failed+=("$child"); fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "mpi-test: ${#failed[@]} of ${#children[@]} failed: ${failed[*]}" >&2
  exit 1
fi
echo "mpi-test: all ${#children[@]} passed"
