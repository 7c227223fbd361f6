/**
 * The emulated build only (KN_CUDA=emulate; nothing registers elsewhere): the SIMT emulator's own
 * checks (kn_emulator_checks: kernels with injected bugs, each reported with its file and line),
 * the package's kernels under race mode (every launch run in two thread orders and compared), and
 * the diagnostics counters.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { expect } from 'chai';
import { Tensor, diagnostics, ops } from '../../lib';
import { addonPath, native } from '../../lib/binding';
import { CaseSpec, LAYOUTS, caseName, decodedResults, expectAgrees, makeCase, runCase } from './gpu-cases';
import { cuda } from './gpu-suite';

const INJECTED_BUGS = [
  'race mode: the block sum without its barrier is reported',
  'an undersized dynamic shared buffer is reported',
  'a lane returning before the shuffle its warp waits in is reported',
  'a __syncthreads reached by half the block is reported',
  'a deadlock between a shuffle and a barrier is reported',
  'a grid sync in an ordinary launch is reported',
];

if (cuda.emulated)
  describe('SIMT emulator (emulated build)', function () {
    it('reports every injected bug with the kernel\'s file and line, and runs the correct kernels clean', function () {
      const binary = path.join(path.dirname(addonPath()), '..', 'kn_emulator_checks');
      const run = spawnSync(binary, { encoding: 'utf8' });
      expect(run.error, `${binary} did not start`).to.equal(undefined);
      expect(run.status, run.stdout).to.equal(0);
      for (const check of INJECTED_BUGS) expect(run.stdout, check).to.match(new RegExp(`^ok +${check}: .*injected_bugs\\.cu:\\d+`, 'm'));
      expect(run.stdout).to.match(/^0 failed$/m);
    });

    const underAddressSanitizer = /asan/.test(process.env.LD_PRELOAD ?? '');
    // Only under AddressSanitizer (npm run test:emulate:asan), which is what reports it.
    if (underAddressSanitizer)
      it('reports a kernel\'s out-of-bounds read with its file and line (AddressSanitizer build)', function () {
        const binary = path.join(path.dirname(addonPath()), '..', 'kn_emulator_checks');
        const run = spawnSync(binary, ['out-of-bounds'], { encoding: 'utf8' });
        const line = /injected_bugs\.cu:(\d+)/.exec(run.stdout)?.[1];
        expect(run.status, 'exit status').to.not.equal(0);
        expect(run.stderr).to.match(/AddressSanitizer: heap-buffer-overflow/);
        expect(run.stderr).to.contain(`injected_bugs.cu:${line}`);
      });

    const halfCheck = path.join(path.dirname(addonPath()), '..', 'kn_emulator_half_check');
    // Built only where CUDA's headers are found.
    if (fs.existsSync(halfCheck))
      it('converts float to half and bfloat16 and back bit for bit as CUDA\'s own host conversions', function () {
        this.timeout(120000);
        const run = spawnSync(halfCheck, { encoding: 'utf8' });
        expect(run.status, run.stdout).to.equal(0);
        expect(run.stdout).to.match(/^0 differences$/m);
      });

    for (const layout of LAYOUTS) {
      const spec: CaseSpec = {
        op: 'kn', layout, shape: [4, 5, 6, 6], virtualBatch: 2, prior: { placement: 'per unit', as: 'Tensor' },
        gain: 'per column', affine: true, epilogue: 'relu + residual', statisticGradients: true, seed: 5200,
      };
      it(`race mode finds no order dependence in the package's kernels: ${caseName(spec)}`, async function () {
        const testCase = makeCase(spec);
        native().emulatorRaceMode!(true);
        try {
          expectAgrees(await runCase(testCase, 'cuda'), decodedResults(await runCase(testCase, 'cpu')), 'CPU backend');
        } finally {
          native().emulatorRaceMode!(false);
        }
      });
    }

    it('diagnostics.counters() counts launches, allocations and the global-memory bytes of an op', async function () {
      const shape = [8, 16, 1024], size = 8 * 16 * 1024, bytes = size * 4;
      const x = Tensor.fromArray(new Float32Array(size).map((_, i) => i % 7), shape, { device: 'cuda' });
      await x.toArrayAsync();
      const before = diagnostics.counters();
      const { y } = ops.kalmanNorm(x);
      await y.toArrayAsync();
      const after = diagnostics.counters();
      expect(Object.keys(after)).to.deep.equal(['launches', 'allocations', 'bytesRead', 'bytesWritten', 'hostTransfers', 'hostWaits', 'gridSyncs']);
      // One persistent launch: x fits in the shared memory of the grid.
      expect(after.launches - before.launches, 'launches').to.equal(1);
      expect(after.gridSyncs - before.gridSyncs, 'grid syncs: after the statistics, after the finish').to.equal(2);
      expect(after.allocations - before.allocations, 'allocations').to.be.at.least(1);
      // Under AddressSanitizer (npm run test:emulate:asan) the kernels' own traffic is not counted.
      const kernelBytes = underAddressSanitizer ? 0 : 1;
      // x once, y twice (the toArrayAsync snapshot and its copy to the host), plus the small statistics.
      expect(after.bytesRead - before.bytesRead, 'bytes read').to.be.within((2 + kernelBytes) * bytes, (2 + 1.05 * kernelBytes) * bytes + 4096);
      // y three times (zero-filled when allocated, by the kernel, by the snapshot), plus the small statistics.
      expect(after.bytesWritten - before.bytesWritten, 'bytes written').to.be.within((2 + kernelBytes) * bytes, (2 + 1.05 * kernelBytes) * bytes + 4096);
    });
  });
