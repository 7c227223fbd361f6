/**
 * linkStack: one call links a feed-forward or convnet stack, input node and pools included. It must
 * build exactly the graph one would build by hand from `moments` (same outputs, same gradients into
 * the tied maps), and reject a bad stack naming the entry before linking anything.
 */
import { expect } from 'chai';
import { InputStatistics, KalmanNorm, Tensor, linkStack, moments } from '../lib';
import type { MomentNode, Stack, TiedWeight } from '../lib';
import { makeRandom } from './util/random';

const random = makeRandom(404);
const values = (length: number, scale = 1) => Float32Array.from({ length }, () => scale * random.normal());

/** A weight and its gradient, as a network would tie them. */
function tied(shape: number[], data: Float32Array): TiedWeight {
  const size = shape.reduce((a, b) => a * b, 1);
  return { value: Tensor.fromArray(data.slice(), shape), grad: Tensor.fromArray(new Float32Array(size), shape) };
}

interface Twin {
  layers: KalmanNorm[];
  maps: TiedWeight[];
  input: InputStatistics;
}

/** Everything a stack needs, built twice from the same numbers. */
function twins(kind: 'linear' | 'conv'): [Twin, Twin] {
  const shapes = kind === 'linear' ? [[4, 6], [3, 4]] : [[4, 2, 3, 3], [3, 4, 3, 3]];
  const weights = shapes.map((shape) => values(shape.reduce((a, b) => a * b, 1), 0.5));
  const make = (): Twin => ({
    layers: [new KalmanNorm(4), new KalmanNorm(3)],
    maps: shapes.map((shape, k) => tied(shape, weights[k])),
    input: kind === 'linear'
      ? new InputStatistics([6], { covariance: 'diagonal', momentum: 0.5 })
      : new InputStatistics([2, 6, 6], { covariance: 'full', momentum: 0.5, patch: { kernel: 3, padding: 1 } }),
  });
  return [make(), make()];
}

/** Observes one input batch, runs both layers forward on fixed data and backward; returns what came out. */
function step(twin: Twin, kind: 'linear' | 'conv') {
  const data = makeRandom(9);
  const tensor = (shape: number[]) => Tensor.fromArray(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => 1 + data.normal()), shape);
  twin.input.observe(tensor(kind === 'linear' ? [4, 6] : [4, 2, 6, 6]));
  const inputs = kind === 'linear' ? [[4, 4], [4, 3]] : [[4, 4, 6, 6], [4, 3, 3, 3]];
  const outputs = twin.layers.map((layer, k) => layer.forward(tensor(inputs[k])).y.toArray().slice());
  for (let k = twin.layers.length - 1; k >= 0; --k) twin.layers[k].backward(tensor(inputs[k]));
  return { outputs, mapGradients: twin.maps.map((map) => map.grad!.toArray().slice()) };
}

describe('linkStack', function () {
  for (const kind of ['linear', 'conv'] as const)
    it(`${kind} stack with an input node${kind === 'conv' ? ' and a max pool' : ''}: the graph built by hand, bit for bit`, function () {
      const [byCall, byHand] = twins(kind);
      const pool = { kind: 'max' as const, taps: 4 };
      linkStack({ layers: byCall.layers, maps: byCall.maps, kind, input: byCall.input, pools: [kind === 'conv' ? pool : null] });
      const through = (node: MomentNode, map: TiedWeight) => (kind === 'conv' ? moments.conv(node, map) : moments.affine(node, map));
      byHand.layers[0].linkPrior(through(moments.input(byHand.input), byHand.maps[0]));
      const normalized = moments.normalized(byHand.layers[0]);
      const activation = kind === 'conv' ? moments.relu(moments.maxPool(normalized, { taps: 4 })) : moments.relu(normalized);
      byHand.layers[1].linkPrior(through(activation, byHand.maps[1]));

      const a = step(byCall, kind);
      const b = step(byHand, kind);
      a.outputs.forEach((y, k) => expect(Array.from(y), `layer ${k} output`).to.deep.equal(Array.from(b.outputs[k])));
      a.mapGradients.forEach((g, k) => {
        expect(Array.from(g), `maps[${k}] gradient`).to.deep.equal(Array.from(b.mapGradients[k]));
        expect(g.some((v) => v !== 0), `maps[${k}] receives a gradient`).to.equal(true);
      });
    });

  it('without an input node the first layer has no prior: plain BN there', function () {
    const [linked, plain] = twins('linear');
    linkStack({ layers: linked.layers, maps: linked.maps });
    const a = step(linked, 'linear');
    const b = step(plain, 'linear');
    expect(Array.from(a.outputs[0])).to.deep.equal(Array.from(b.outputs[0]));
    expect(Array.from(a.outputs[1])).to.not.deep.equal(Array.from(b.outputs[1]));
  });

  describe('bad stacks: an error naming the entry, and no layer linked', function () {
    const cases: { what: string; stack: (t: Twin) => unknown; kind: typeof TypeError | typeof RangeError; argument: string }[] = [
      { what: 'not an object', stack: () => 'layers', kind: TypeError, argument: 'stack' },
      { what: 'no layers', stack: (t) => ({ layers: [], maps: t.maps }), kind: TypeError, argument: 'stack.layers' },
      { what: 'a layer that is not a layer', stack: (t) => ({ layers: [t.layers[0], {}], maps: t.maps }), kind: TypeError, argument: 'stack.layers' },
      { what: 'one map too few', stack: (t) => ({ layers: t.layers, maps: t.maps.slice(1) }), kind: RangeError, argument: 'stack.maps' },
      { what: 'an unknown kind', stack: (t) => ({ layers: t.layers, maps: t.maps, kind: 'dense' }), kind: RangeError, argument: 'stack.kind' },
      { what: 'an input that is not InputStatistics', stack: (t) => ({ layers: t.layers, maps: t.maps, input: {} }), kind: TypeError, argument: 'stack.input' },
      { what: 'pools of the wrong length', stack: (t) => ({ layers: t.layers, maps: t.maps, pools: [null, null] }), kind: RangeError, argument: 'stack.pools' },
      { what: 'an unknown pool kind', stack: (t) => ({ layers: t.layers, maps: t.maps, pools: [{ kind: 'median', taps: 4 }] }), kind: RangeError, argument: 'stack.pools[0].kind' },
      { what: 'a pool of 0 taps', stack: (t) => ({ layers: t.layers, maps: t.maps, pools: [{ kind: 'max', taps: 0 }] }), kind: RangeError, argument: 'stack.pools[0].taps' },
      { what: 'a pool correlation above 1', stack: (t) => ({ layers: t.layers, maps: t.maps, pools: [{ kind: 'avg', taps: 4, correlation: 2 }] }), kind: RangeError, argument: 'stack.pools[0].correlation' },
    ];
    for (const c of cases)
      it(c.what, function () {
        const [twin, plain] = twins('linear');
        expect(() => linkStack(c.stack(twin) as Stack)).to.throw(c.kind, new RegExp(`^${c.argument.replace(/[.[\]]/g, '\\$&')}: `));
        const a = step(twin, 'linear');
        const b = step(plain, 'linear');
        a.outputs.forEach((y, k) => expect(Array.from(y), `layer ${k} unlinked`).to.deep.equal(Array.from(b.outputs[k])));
      });
  });
});
