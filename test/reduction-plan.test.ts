// The CUDA launch plan (cuda/reduction_plan.h), walked on the CPU thread by thread as the kernels
// walk it: every element covered exactly once, in bounds, credited to its own cell, every partial
// written once, and no thread looping more than the plan's bound. Runs on every machine, with the
// walk in the tools addon (tools/native/plan_coverage.cpp, built by `npm run build:tools`).
import { expect } from 'chai';
import { LAYOUT_CODE, Layout, NativeShape } from '../lib/binding';
import { tools } from '../tools/binding';

type Case = [string, Omit<NativeShape, 'samplesPerUnit' | 'channelsPerUnit' | 'layout'> & { layout: Layout }, number];

const CASES: Case[] = [
  ['NCHW, one element', { samples: 1, channels: 1, spatial: 1, layout: 'NCHW' }, 1],
  ['NCHW, large C, small S (many units, few elements)', { samples: 2, channels: 2048, spatial: 49, layout: 'NCHW' }, 1],
  ['NCHW, S not a multiple of the vector', { samples: 3, channels: 1031, spatial: 1, layout: 'NCHW' }, 4],
  ['NCHW, float32 vectors, S = 3136', { samples: 4, channels: 64, spatial: 3136, layout: 'NCHW' }, 4],
  ['NCHW, 16-bit vectors, S = 3136', { samples: 4, channels: 64, spatial: 3136, layout: 'NCHW' }, 8],
  ['NCHW, small C, huge S (split reduction)', { samples: 2, channels: 1, spatial: 1000003, layout: 'NCHW' }, 1],
  ['NCHW, small C, S = 112 * 112', { samples: 64, channels: 3, spatial: 12544, layout: 'NCHW' }, 4],
  ['NCHW, S just past a run (4097)', { samples: 2, channels: 3, spatial: 4097, layout: 'NCHW' }, 1],
  ['NCHW, S = 65537', { samples: 1, channels: 2, spatial: 65537, layout: 'NCHW' }, 1],
  ['NHWC, C = 1', { samples: 3, channels: 1, spatial: 4095, layout: 'NHWC' }, 1],
  ['NHWC, C = 3', { samples: 2, channels: 3, spatial: 4096, layout: 'NHWC' }, 1],
  ['NHWC, C = 64, S = 3136', { samples: 8, channels: 64, spatial: 3136, layout: 'NHWC' }, 4],
  ['NHWC, C = 129 (a ragged channel tile)', { samples: 2, channels: 129, spatial: 4097, layout: 'NHWC' }, 1],
  ['NHWC, C = 2048, S = 49', { samples: 2, channels: 2048, spatial: 49, layout: 'NHWC' }, 1],
  ['NHWC, S = 65537', { samples: 1, channels: 5, spatial: 65537, layout: 'NHWC' }, 1],
];

describe('CUDA launch plan, walked on the CPU', () => {
  for (const [title, shape, vectorWidth] of CASES) {
    it(`${title}: [${shape.samples}, ${shape.channels}, ${shape.spatial}] ${shape.layout}, vectors of ${vectorWidth}`, () => {
      const coverage = tools().planCoverage({ shape: { ...shape, layout: LAYOUT_CODE[shape.layout], samplesPerUnit: 1, channelsPerUnit: 1 }, vectorWidth });
      expect(coverage.outOfBounds, 'reads out of bounds').to.equal(0);
      expect(coverage.missed, 'elements no thread reads').to.equal(0);
      expect(coverage.repeated, 'elements read twice').to.equal(0);
      expect(coverage.wrongCell, 'elements credited to another cell').to.equal(0);
      expect(coverage.partialsMissed, 'partials never written').to.equal(0);
      expect(coverage.partialsRepeated, 'partials written twice').to.equal(0);
      expect(coverage.maxSteps, 'loads per thread').to.be.at.most(32);
    });
  }

  it('splits a cell into several runs when there are few cells (a split reduction)', () => {
    const coverage = tools().planCoverage({ shape: { samples: 2, channels: 1, spatial: 1000003, layout: LAYOUT_CODE.NCHW, samplesPerUnit: 1, channelsPerUnit: 1 }, vectorWidth: 1 });
    expect(coverage.chunks).to.be.greaterThan(100);
  });

  it('falls back to single elements when S is not a multiple of the vector width', () => {
    const coverage = tools().planCoverage({ shape: { samples: 2, channels: 3, spatial: 7, layout: LAYOUT_CODE.NCHW, samplesPerUnit: 1, channelsPerUnit: 1 }, vectorWidth: 4 });
    expect(coverage.vectorWidth).to.equal(1);
  });
});
