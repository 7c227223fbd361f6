// `using` declarations: tensors, layers and input statistics free their memory when the scope ends.
import { expect } from 'chai';
import { GroupKalmanNorm, InputStatistics, KalmanNorm, Tensor } from '../lib';

describe('Symbol.dispose', () => {
  it('a tensor declared with `using` is disposed at the end of its block', () => {
    let escaped: Tensor;
    {
      using tensor = Tensor.zeros([2, 3]);
      escaped = tensor;
      expect(tensor.disposed).to.equal(false);
    }
    expect(escaped.disposed).to.equal(true);
    expect(() => escaped.toArray()).to.throw(Error, 'tensor: used after dispose()');
  });

  it('a layer declared with `using` frees its parameters, running estimates and outputs', () => {
    const x = Tensor.fromArray(Float32Array.from({ length: 2 * 4 * 3 }, (_, i) => Math.sin(i)), [2, 4, 3]);
    let layer: KalmanNorm;
    let y: Tensor;
    {
      using scoped = new KalmanNorm(4);
      layer = scoped;
      y = scoped.forward(x).y;
      scoped.backward(y);
    }
    for (const tensor of [layer.gamma!, layer.beta!, layer.gain, layer.runningMean, layer.runningVar, layer.grad.gain, y])
      expect(tensor.disposed).to.equal(true);
    expect(x.disposed, 'the input is the caller\'s').to.equal(false);
    expect(() => layer.forward(x)).to.throw(Error, 'forward: the layer has been disposed');
    expect(() => layer.stateDict()).to.throw(Error, 'stateDict: the layer has been disposed');
    expect(() => layer.dispose()).to.throw(Error, 'dispose: the layer has been disposed');
  });

  it('a GKN layer and input statistics declared with `using` are disposed in reverse order', () => {
    let gkn: GroupKalmanNorm;
    let statistics: InputStatistics;
    {
      using scopedStatistics = new InputStatistics([4], { covariance: 'diagonal' });
      using scopedLayer = new GroupKalmanNorm(4, 2);
      gkn = scopedLayer;
      statistics = scopedStatistics;
    }
    expect(gkn.gain.disposed).to.equal(true);
    expect(statistics.mean.disposed).to.equal(true);
    expect(statistics.var.disposed).to.equal(true);
  });

  it('the layer is disposed when its block throws', () => {
    let layer: KalmanNorm | undefined;
    expect(() => {
      using scoped = new KalmanNorm(2);
      layer = scoped;
      throw new Error('inside the block');
    }).to.throw('inside the block');
    expect(layer!.gain.disposed).to.equal(true);
  });
});
