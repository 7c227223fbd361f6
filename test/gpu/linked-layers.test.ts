/**
 * Linked layers on the GPU against the same layers on the CPU: three KalmanNorm layers whose priors
 * come from the statistics graph (linkFeedForward, tied weights), everything on the device, so no
 * statistic makes a round trip to the host between layers. Compares outputs, the gradients of x,
 * gamma, beta and gain, and what the graph accumulated into the tied weights.
 */
import { Device, KalmanNorm, Tensor, linkFeedForward } from '../../lib';
import { assertClose } from '../util/assert-close';
import { makeRandom } from '../util/random';
import { describeGpu } from './gpu-suite';

const N = 8;
const CHANNELS = [16, 24, 8];

function values(seed: number, length: number, offset = 0): Float32Array {
  const random = makeRandom(seed);
  return Float32Array.from({ length }, () => offset + random.normal());
}

/** Builds the chain on `device`, runs one forward and one backward, and returns every result on the host. */
async function runChain(device: Device): Promise<Map<string, Float32Array>> {
  const layers = CHANNELS.map((channels, k) => {
    const layer = new KalmanNorm(channels, { device });
    layer.gamma!.writeSync(values(10 + k, channels, 1));
    layer.beta!.writeSync(values(20 + k, channels));
    return layer;
  });
  const weights = [1, 2].map((k) => Tensor.fromArray(values(30 + k, CHANNELS[k] * CHANNELS[k - 1]).map((v) => 0.3 * v), [CHANNELS[k], CHANNELS[k - 1]], { device }));
  const weightGrads = weights.map((w) => Tensor.zeros(w.shape, { device }));
  linkFeedForward(layers, weights.map((value, k) => ({ value, grad: weightGrads[k] })));
  const inputs = CHANNELS.map((c, k) => Tensor.fromArray(values(40 + k, N * c, 2), [N, c], { device }));
  const outputs = layers.map((layer, k) => layer.forward(inputs[k]).y);
  const results = new Map<string, Float32Array>();
  for (let k = layers.length - 1; k >= 0; --k) {
    const dx = layers[k].backward(Tensor.fromArray(values(50 + k, N * CHANNELS[k]), [N, CHANNELS[k]], { device })).dx;
    results.set(`dx${k}`, (await dx.toArrayAsync()) as Float32Array);
  }
  for (const [k, layer] of layers.entries()) {
    results.set(`y${k}`, (await outputs[k].toArrayAsync()) as Float32Array);
    results.set(`dGamma${k}`, layer.grad.gamma!.readSync());
    results.set(`dBeta${k}`, layer.grad.beta!.readSync());
    results.set(`dGain${k}`, layer.grad.gain.readSync());
  }
  weightGrads.forEach((grad, k) => results.set(`dW${k + 2}`, grad.readSync()));
  return results;
}

describeGpu('GPU linked layers vs the CPU', function () {
  it('a three-layer linked chain gives the same outputs and gradients on both devices', async () => {
    const cpu = await runChain('cpu');
    const cuda = await runChain('cuda');
    for (const [name, expected] of cpu) assertClose(cuda.get(name)!, expected, 1e-4, name);
  });
});
