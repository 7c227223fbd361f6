#!/bin/sh
# `npm start`'s build (the root's prestart): the library, then this example. Under mpirun
# (`mpirun -np 2 npm start -- --sync`) every process runs `npm start`, and so this, at once: they
# would write the same files together, or one would rewrite them while another loads them. There
# (Open MPI: PMIX_NAMESPACE names the job) the processes take turns under a lock and only the first
# builds; the others find that this job's build is done. Elsewhere it simply builds.
set -e
build() { npm run build:ts && npm run build --workspace=kalman-norm-example-mnist; }
if [ -z "${PMIX_NAMESPACE:-}" ]; then
  build
  exit
fi
command -v flock >/dev/null 2>&1 || { echo "prestart: under mpirun the build needs flock (util-linux)" >&2; exit 1; }
mkdir -p examples/mnist/dist
stamp=examples/mnist/dist/.prestart-job
exec 9>examples/mnist/dist/.prestart-lock
flock 9
if [ "$(cat "$stamp" 2>/dev/null)" != "$PMIX_NAMESPACE" ]; then
  build
  echo "$PMIX_NAMESPACE" >"$stamp"
fi
