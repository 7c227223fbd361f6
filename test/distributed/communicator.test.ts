// The Communicator contract (KN-SPEC 3d) in one process: the group of one, checkCommunicator, and
// mpi() as far as it goes without mpirun. Its collectives across processes run under mpirun in
// `npm run test:mpi` (test/distributed/mpi-*.ts).
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { distributed } from '../../lib';
import type { Communicator } from '../../lib';
import { mpiAddonPath } from '../../lib/distributed/mpi';
import { argumentFailures } from './mpi-arguments';

const { checkCommunicator, mpi, singleProcess } = distributed;
const BUILT_WITHOUT_MPI = 'built without MPI: install libopenmpi-dev and openmpi-bin, then rebuild (KN_MPI=on)';

describe('distributed: the Communicator contract', () => {
  describe('singleProcess()', () => {
    it('is rank 0 of a group of 1', () => {
      expect(singleProcess()).to.include({ rank: 0, size: 1 });
    });

    it('allGather copies send into receive', () => {
      const send = new Float64Array([1.5, -2, 3]);
      const receive = new Float64Array(3).fill(NaN);
      singleProcess().allGather(send, receive);
      expect(Array.from(receive)).to.deep.equal([1.5, -2, 3]);
      send[0] = 9;
      expect(receive[0], 'a copy, not a view').to.equal(1.5);
    });

    for (const op of ['sum', 'max'] as const)
      for (const Type of [Float64Array, Float32Array])
        it(`allReduce '${op}' leaves a ${Type.name} as it is (the ${op} over one rank)`, () => {
          const buffer = Type.from([0.25, -3, 7]);
          singleProcess().allReduce(buffer, op);
          expect(Array.from(buffer)).to.deep.equal([0.25, -3, 7]);
        });

    it('checks its arguments as mpi() does (test/distributed/mpi-arguments.ts)', () => {
      expect(argumentFailures(singleProcess())).to.deep.equal([]);
    });
  });

  describe('checkCommunicator', () => {
    const methods = { allGather() {}, allReduce() {} };
    const bad: Array<[string, unknown]> = [
      ['null', null],
      ['a number', 2],
      ['an empty object', {}],
      ['rank = size', { rank: 1, size: 1, ...methods }],
      ['a negative rank', { rank: -1, size: 2, ...methods }],
      ['a fractional rank', { rank: 0.5, size: 2, ...methods }],
      ['size 0', { rank: 0, size: 0, ...methods }],
      ['size as a string', { rank: 0, size: '2', ...methods }],
      ['no allGather', { rank: 0, size: 1, allReduce() {} }],
      ['allReduce not a function', { rank: 0, size: 1, allGather() {}, allReduce: 1 }],
    ];
    for (const [what, value] of bad)
      it(`${what}: a TypeError naming the argument`, () => {
        expect(() => checkCommunicator('options.communicator', value))
          .to.throw(TypeError)
          .with.property('message')
          .that.match(/^options\.communicator: /);
      });

    it('returns a valid communicator as it is', () => {
      const group: Communicator = { rank: 2, size: 3, ...methods };
      expect(checkCommunicator('communicator', group)).to.equal(group);
      expect(checkCommunicator('communicator', singleProcess())).to.equal(singleProcess());
    });
  });

  describe('mpi()', () => {
    if (fs.existsSync(mpiAddonPath())) {
      it(`checks its methods' arguments in JavaScript (a child process, MPI as a group of one: ${path.basename(mpiAddonPath())} is built)`, () => {
        const child = path.join(__dirname, 'mpi-arguments.js');
        const result = spawnSync(process.execPath, [child], { encoding: 'utf8', timeout: 60_000 });
        const output = `${result.stdout}${result.stderr}`;
        expect(result.status, output).to.equal(0);
        expect(result.stdout).to.contain('mpi-arguments: rank 0 of 1: ok');
      });
    } else {
      it(`throws "built without MPI" (no ${mpiAddonPath()})`, () => {
        expect(() => mpi()).to.throw(Error, BUILT_WITHOUT_MPI);
      });
    }

    it('throws "built without MPI", naming where it looked, when KN_MPI_ADDON_PATH names no file', () => {
      const missing = path.join(__dirname, 'no-such-folder', 'kn_mpi.node');
      const saved = process.env.KN_MPI_ADDON_PATH;
      process.env.KN_MPI_ADDON_PATH = missing;
      try {
        expect(() => mpi()).to.throw(Error, BUILT_WITHOUT_MPI).with.property('message').that.contains(missing);
      } finally {
        if (saved === undefined) delete process.env.KN_MPI_ADDON_PATH;
        else process.env.KN_MPI_ADDON_PATH = saved;
      }
    });

    it('looks for kn_mpi.node beside the addon that KN_ADDON_PATH names', () => {
      const saved = { mpi: process.env.KN_MPI_ADDON_PATH, addon: process.env.KN_ADDON_PATH };
      delete process.env.KN_MPI_ADDON_PATH;
      process.env.KN_ADDON_PATH = path.join('/some', 'build-emulate', 'Release', 'kalman_norm.node');
      try {
        expect(mpiAddonPath()).to.equal(path.join('/some', 'build-emulate', 'Release', 'kn_mpi.node'));
      } finally {
        for (const [name, value] of [['KN_MPI_ADDON_PATH', saved.mpi], ['KN_ADDON_PATH', saved.addon]] as const)
          if (value === undefined) delete process.env[name];
          else process.env[name] = value;
      }
    });

    it('refuses a worker thread (MPI serves the main thread)', async () => {
      const entry = path.join(__dirname, '..', '..', 'lib', 'distributed');
      const source = `const { parentPort } = require('worker_threads');
        try { require(${JSON.stringify(entry)}).mpi(); parentPort.postMessage('no error'); }
        catch (error) { parentPort.postMessage(error.message); }`;
      const message = await new Promise((resolve, reject) => {
        const worker = new Worker(source, { eval: true });
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      expect(message).to.match(/^kalman-norm: mpi\(\): call it on the main thread/);
    });
  });
});
