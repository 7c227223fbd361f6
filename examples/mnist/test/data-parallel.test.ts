/**
 * The data-parallel pieces of `npm start -- --sync` that need no MPI (examples/mnist/src/data-parallel.ts,
 * args.ts): each process's samples of a global batch, the one all-reduce that averages the
 * gradients and the loss (against a communicator that plays the other process), and the schedule
 * of a data-parallel run, which must be the one-process run's at the global batch. The MPI run
 * itself is `.ci/run`'s `mpirun -np 2 ... npm start -- --sync`.
 */
import { expect } from 'chai';
import type { Communicator } from 'kalman-norm';
import { configFor, parseArgs } from '../src/args';
import { GradientAverage, rankRows } from '../src/data-parallel';
import { methodById } from '../src/methods';
import { Parameter } from '../src/nn/parameter';

describe('data-parallel training (examples/mnist --sync)', () => {
  it("rankRows: the processes' samples, in rank order, are the global batch of one process", () => {
    const order = Int32Array.from([9, 4, 7, 1, 8, 0, 3, 6, 2, 5, 11, 10]);
    for (const [processes, batch, cursor] of [[2, 2, 0], [2, 2, 4], [3, 2, 6], [4, 1, 8], [2, 3, 6]]) {
      const rows = Array.from({ length: processes }, (_, rank) => Array.from(rankRows(order, cursor, batch, rank)));
      rows.forEach((r) => expect(r).to.have.length(batch));
      expect(rows.flat()).to.deep.equal(Array.from(order.subarray(cursor, cursor + processes * batch)));
    }
  });

  /** Parameters with these gradients (values are irrelevant). */
  function parameters(grads: number[][]): Parameter[] {
    return grads.map((g, i) => new Parameter(`p${i}`, new Float32Array(g.length), [g.length], false, undefined, Float32Array.from(g)));
  }

  /** Rank 0 of 2, whose partner's packed buffer is `other`; records each call. */
  function playingRankOne(other: number[], calls: { length: number; op: string }[]): Communicator {
    return {
      rank: 0,
      size: 2,
      allGather() {
        throw new Error('not used');
      },
      allReduce(buffer, op) {
        calls.push({ length: buffer.length, op });
        expect(buffer.length).to.equal(other.length);
        for (let i = 0; i < buffer.length; ++i) buffer[i] += other[i];
      },
    };
  }

  it('GradientAverage: one all-reduce (sum) of every gradient and the loss, then divided by the processes', () => {
    const mine = [[1, -2, 0.5], [3], [0.25, 8]];
    const theirs = [[3, 2, -0.5], [-1], [0.75, 1e-8]];
    const calls: { length: number; op: string }[] = [];
    const params = parameters(mine);
    const average = new GradientAverage(params, playingRankOne([...theirs.flat(), 1.5], calls));

    const loss = average.average(2.5);
    expect(calls).to.deep.equal([{ length: 7, op: 'sum' }]);
    expect(loss).to.equal(2);
    params.forEach((p, i) => {
      const expected = mine[i].map((g, j) => Math.fround((g + theirs[i][j]) / 2));
      expect(Array.from(p.grad), p.name).to.deep.equal(expected);
    });
    // 8 + 1e-8 is summed in float64 before the one rounding into float32.
    expect(params[2].grad[1]).to.equal(Math.fround((8 + 1e-8) / 2));
  });

  it('GradientAverage: a second step packs the new gradients, not the old averages', () => {
    const calls: { length: number; op: string }[] = [];
    const params = parameters([[4, 4]]);
    const average = new GradientAverage(params, playingRankOne([0, 0, 0], calls));
    average.average(1);
    params[0].grad.set([6, -6]);
    expect(average.average(3)).to.equal(1.5);
    expect(Array.from(params[0].grad)).to.deep.equal([3, -3]);
  });

  it('a data-parallel run (2 x batch 2) has the steps and learning rate of one process at batch 4', () => {
    const args = parseArgs(['--sync']);
    expect(args.models).to.deep.equal(['mlp']);
    const kn = methodById('kn');
    const synced = configFor(args, 'mlp', kn, 2, 2024, 2);
    const alone = configFor(args, 'mlp', kn, 4, 2024);
    expect({ ...synced, batch: 4, processes: 1 }).to.deep.equal(alone);
    expect(synced.learningRate).to.not.equal(configFor(args, 'mlp', kn, 2, 2024).learningRate);
  });

  it('--sync refuses a list of batches, --json and --out', () => {
    expect(() => parseArgs(['--sync', '--batch', '2,4'])).to.throw(RangeError, '--batch');
    expect(() => parseArgs(['--sync', '--json', 'x.json'])).to.throw(RangeError, '--json');
    expect(() => parseArgs(['--out', 'charts', '--sync'])).to.throw(RangeError, '--out');
  });
});
