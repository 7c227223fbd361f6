// `npm install` of kalman-norm: the prebuilt CPU addon in prebuilds/ (made by prebuildify, found
// by node-gyp-build) when one fits this platform, loads, and no CUDA build is wanted; otherwise
// the source build (cmake-js), which builds the CUDA backend too wherever nvcc is on the PATH.
// KN_CUDA=on or emulate always builds from source; KN_CUDA=off takes a prebuilt addon when one fits.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

function nvccOnPath() {
  return spawnSync('nvcc', ['--version'], { stdio: 'ignore' }).status === 0;
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

const mode = process.env.KN_CUDA;
const wantsSource = mode === 'on' || mode === 'emulate' || (mode !== 'off' && nvccOnPath());
const prebuild = wantsSource ? null : loadablePrebuild();
if (prebuild) {
  console.log(`kalman-norm: using the prebuilt CPU addon ${prebuild}`);
} else {
  const build = spawnSync('cmake-js', ['compile'], { stdio: 'inherit', shell: process.platform === 'win32' });
  if (build.error) throw build.error;
  process.exit(build.status ?? 1);
}
