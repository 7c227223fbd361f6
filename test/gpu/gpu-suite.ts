/**
 * The GPU suite's switch. `cuda` is read once when the files load (cudaInfo() asks the driver; it
 * allocates nothing). describeGpu registers a block of GPU tests only where a GPU is usable;
 * elsewhere it registers one pending test whose title carries the reason, so a run without a GPU
 * shows the suite as pending and never counts it as passed. Test bodies create their tensors
 * inside `it`, so nothing touches the GPU while the files load.
 */
import { cudaInfo } from '../../lib';

export const cuda = cudaInfo();

export function describeGpu(title: string, body: (this: Mocha.Suite) => void): void {
  if (cuda.available) {
    describe(title, body);
    return;
  }
  describe(title, function () {
    it(`(pending: ${cuda.reason})`);
  });
}
