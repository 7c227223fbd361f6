/**
 * What every machine can check about the CUDA backend, GPU or not: cudaInfo() has its documented
 * fields, and without a usable GPU a CUDA tensor is refused with the reason.
 */
import { expect } from 'chai';
import { Tensor, cudaInfo } from '../../lib';

describe('cudaInfo() and CUDA availability (every machine)', function () {
  const info = cudaInfo();

  it('reports built, available, reason and devices with their documented types', function () {
    expect(info).to.have.all.keys('built', 'emulated', 'available', 'reason', 'devices');
    expect(info.built).to.be.a('boolean');
    expect(info.emulated).to.be.a('boolean');
    expect(info.available).to.be.a('boolean');
    expect(info.reason).to.be.a('string');
    expect(info.devices).to.be.an('array');
    for (const device of info.devices) {
      expect(device).to.have.all.keys('index', 'name', 'computeCapability', 'totalMemory');
      expect(device.index, 'index').to.be.a('number');
      expect(device.name, 'name').to.be.a('string');
      expect(device.computeCapability, 'computeCapability').to.match(/^\d+\.\d+$/);
      expect(device.totalMemory, 'totalMemory').to.be.above(0);
    }
  });

  it('is available only in a CUDA build with a device, and says why when it is not', function () {
    if (info.emulated) expect(info.built, 'built').to.equal(true);
    if (info.available) {
      expect(info.built, 'built').to.equal(true);
      expect(info.devices, 'devices').to.not.be.empty;
    } else {
      expect(info.reason, 'reason').to.not.equal('');
    }
  });

  if (!info.available) {
    it(`refuses CUDA tensors with an Error naming device and the reason (${info.reason})`, function () {
      const withReason = (message: string) => message.startsWith('device:') && message.includes(info.reason);
      expect(() => Tensor.fromArray(new Float32Array(4), [1, 4], { device: 'cuda' }))
        .to.throw(Error).that.satisfies((error: Error) => withReason(error.message));
      expect(() => Tensor.zeros([1, 4], { device: 'cuda', dtype: 'float16' }))
        .to.throw(Error).that.satisfies((error: Error) => withReason(error.message));
    });
  }
});
