/**
 * KN synchronized over processes (issue 15, KN-SPEC 3d) on CUDA, in one process: every rank in turn
 * through the split API equals one process holding the whole batch, and matches the CPU's ranks;
 * a call split into one part is the whole call, bit for bit (the split's finish is a one-block
 * kernel, the whole call's is the statistics kernel's last block or the persistent kernel); and
 * what a split call costs, counted by the emulator.
 */
import { expect } from 'chai';
import { KalmanNormStatistics, Tensor, diagnostics, ops } from '../../lib';
import { native } from '../../lib/binding';
import { assertClose } from '../util/assert-close';
import { SYNC_CASES, caseData, checkRank, checkSummedGradients, splitRuns, summedGradients, wholeRun } from '../util/sync-cases';
import { cuda, describeGpu } from './gpu-suite';

const RTOL = 2e-5;
// CUDA against the CPU: float cells on the GPU, double on the CPU (1e4 + N(0, 1) data: 7e-5).
const CROSS_BACKEND_RTOL = 5e-4;

describeGpu('sync KN on CUDA (issue 15)', () => {
  for (const c of SYNC_CASES) {
    it(`${c.name}: 2 ranks equal one process, and the CPU's ranks`, () => {
      const data = caseData(c);
      const whole = wholeRun(c, data, 'cuda');
      const runs = splitRuns(c, data, 'cuda', 2);
      runs.forEach((run, rank) => checkRank(c, rank, 2, run, whole, RTOL));
      checkSummedGradients(c, summedGradients(runs), whole, RTOL);
      expect(runs[1].mean).to.deep.equal(runs[0].mean);
      const cpu = splitRuns(c, data, 'cpu', 2);
      runs.forEach((run, rank) => {
        for (const name of ['y', 'dx', 'mean', 'var', 'runningMean', 'runningVar'] as const)
          assertClose(run[name], cpu[rank][name], CROSS_BACKEND_RTOL, `${c.name}, rank ${rank}: ${name} on CUDA against the CPU`);
      });
    });
  }

  it('a call split into one part is the whole call, bit for bit', () => {
    for (const c of SYNC_CASES) {
      const data = caseData(c);
      expect(splitRuns(c, data, 'cuda', 1)[0]).to.deep.equal(wholeRun(c, data, 'cuda'), c.name);
    }
  });
});

if (cuda.emulated)
  describe('sync KN costs, counted by the emulator (issue 15)', () => {
    it('the sums half is two launches (statistics, then the moments in one block) and two host transfers (the gain up, the moments down); the finish half one upload (every process\'s moments) and two launches', () => {
      const x = Tensor.fromArray(new Float32Array(2 * 64 * 8 * 8).map((_, i) => Math.sin(i)), [2, 64, 8, 8], { device: 'cuda' });
      const count = (run: () => void) => {
        native().synchronize!(0n);
        const before = diagnostics.counters();
        run();
        native().synchronize!(0n);
        const after = diagnostics.counters();
        return { launches: after.launches - before.launches, hostTransfers: after.hostTransfers - before.hostTransfers };
      };
      let statistics: KalmanNormStatistics | null = null;
      expect(count(() => (statistics = ops.kalmanNormStatistics(x)))).to.deep.equal({ launches: 2, hostTransfers: 2 });
      const gathered = new Float64Array([...statistics!.moments, ...statistics!.moments]);
      expect(count(() => ops.kalmanNormApply(statistics!, gathered))).to.deep.equal({ launches: 2, hostTransfers: 1 });
    });
  });
