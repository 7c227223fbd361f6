// kalman-norm/tfjs as users meet it: a subpath of the package that loads tfjs, which the core
// entry never does; @tensorflow/tfjs is an optional peer dependency, not a dependency.
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, runAsConsumer } from './util/consumer';

describe('kalman-norm/tfjs package entry', () => {
  it('loads with require() and with import, next to the user\'s own @tensorflow/tfjs', () => {
    const required = "const tf = require('@tensorflow/tfjs'); const kn = require('kalman-norm/tfjs'); " +
      "console.log(new kn.KalmanNormalization() instanceof tf.layers.Layer, typeof kn.GroupKalmanNormalization);";
    expect(runAsConsumer('check.cjs', required, ['@tensorflow/tfjs']).trim()).to.equal('true function');
    const imported = "import { KalmanNormalization } from 'kalman-norm/tfjs'; console.log(KalmanNormalization.className);";
    expect(runAsConsumer('check.mjs', imported, ['@tensorflow/tfjs']).trim()).to.equal('KalmanNormalization');
  });

  it('the core entry does not load tfjs', () => {
    const source = "require('kalman-norm'); console.log(Object.keys(require.cache).filter((file) => file.includes('@tensorflow')).length);";
    expect(runAsConsumer('core.cjs', source).trim()).to.equal('0');
  });

  it('@tensorflow/tfjs is an optional peer dependency, never a dependency', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(manifest.dependencies).to.not.have.property('@tensorflow/tfjs');
    expect(manifest.peerDependencies).to.have.property('@tensorflow/tfjs');
    expect(manifest.peerDependenciesMeta['@tensorflow/tfjs']).to.deep.equal({ optional: true });
    expect(manifest.exports['./tfjs'].types).to.equal('./dist/lib/tfjs/index.d.ts');
  });
});
