// `npm install` of kalman-norm: the prebuilt CPU addon in prebuilds/ (made by prebuildify, found
// by node-gyp-build) when one fits this platform, loads, and neither a CUDA nor an MPI build is
// wanted; otherwise the source build (cmake-js), which builds the CUDA backend too wherever nvcc is
// on the PATH, and the MPI engine (kn_mpi.node) wherever MPI is found. KN_CUDA=on or emulate, or
// KN_MPI=on, always builds from source; with KN_CUDA=off and KN_MPI=off a prebuilt addon is taken
// when one fits (it has neither: its distributed.mpi() says so).
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

function onPath(command, flag) {
  return spawnSync(command, [flag], { stdio: 'ignore' }).status === 0;
}

/** The prebuilt addon's path when one fits and loads here, else null (and why, on stderr). */
function loadablePrebuild() {
  if (!fs.existsSync(path.join(__dirname, 'prebuilds'))) return null;  // a source checkout
  process.env.PREBUILDS_ONLY = '1';  // node-gyp-build would otherwise prefer a build/ folder
  try {
    const file = require('node-gyp-build').path(__dirname);
    require(file);
    return file;
  } catch (error) {
    console.error(`kalman-norm: no prebuilt addon fits here (${error.message.trim()}); building from source`);
    return null;
  }
}

const cuda = process.env.KN_CUDA;
const mpi = process.env.KN_MPI;
const wantsCuda = cuda === 'on' || cuda === 'emulate' || (cuda !== 'off' && onPath('nvcc', '--version'));
const wantsMpi = mpi === 'on' || (mpi !== 'off' && onPath('mpicc', '--showme:version'));
const wantsSource = wantsCuda || wantsMpi;
const prebuild = wantsSource ? null : loadablePrebuild();
if (prebuild) {
  console.log(`kalman-norm: using the prebuilt CPU addon ${prebuild}`);
} else {
  const build = spawnSync('cmake-js', ['compile'], { stdio: 'inherit', shell: process.platform === 'win32' });
  if (build.error) throw build.error;
  process.exit(build.status ?? 1);
}
