/**
 * The fuzzer in the normal run: 10,000 seeded random KN / GKN calls (test/fuzz/cases.ts), about
 * half with one argument corrupted, in child processes so that a crash or an abort is caught as
 * one. Every call must either return what the float64 reference computes or throw an error naming
 * the corrupted argument. `npm run fuzz -- --cases N` runs more.
 */
import { expect } from 'chai';
import { fuzz } from './fuzz/spawn';

const WORKERS = 8;
const CASES_EACH = 1250;

describe('fuzz: 10,000 random calls in child processes', () => {
  it('every call returns the reference result or throws naming the bad argument; no process crashes', async () => {
    const totals = await fuzz(1, WORKERS, CASES_EACH, 4);
    expect(totals.crashes, 'workers that crashed').to.deep.equal([]);
    expect(totals.failures, 'failed cases').to.deep.equal([]);
    const { counts } = totals;
    expect(counts['correct result'] + counts['named error']).to.equal(WORKERS * CASES_EACH);
    expect(counts['correct result'], 'valid calls').to.be.greaterThan(WORKERS * CASES_EACH * 0.4);
    expect(counts['named error'], 'corrupted calls').to.be.greaterThan(WORKERS * CASES_EACH * 0.4);
  });
});
