// The CPU thread pool (csrc/cpu/thread_pool.h) when a piece throws: the caller gets the exception
// only once every worker has left the body, and no piece starts after that; a worker's exception
// reaches the caller instead of ending the process. Seen through the tools addon's poolFailure
// (tools/native/pool_failure.cpp), which runs the pool's code as the CPU kernels do.
import { expect } from 'chai';
import { tools } from '../tools/binding';

describe('CPU thread pool: a piece that throws', () => {
  for (const thrower of ['caller', 'worker'] as const) {
    it(`on the ${thrower}: rethrown on the caller after every worker is out of the body`, function () {
      const first = tools().poolFailure({ thrower });
      if (first.threads < 2) this.skip();  // one thread: no workers to wait for
      for (let run = 0; run < 5; ++run) {
        const result = run === 0 ? first : tools().poolFailure({ thrower });
        expect(result.message, `run ${run}`).to.equal(`a piece failed on the ${thrower}`);
        expect(result.runningAtReturn, `run ${run}: pieces still running at return`).to.equal(0);
        expect(result.startedAfterReturn, `run ${run}: pieces started after return`).to.equal(0);
      }
    });
  }

  it('the pool still works after a failure', () => {
    tools().poolFailure({ thrower: 'worker' });
    const src = Float32Array.from({ length: 1 << 20 }, (_, i) => i);
    const dst = new Float32Array(src.length);
    tools().parallelCopy({ dst, src });
    expect(dst).to.deep.equal(src);
  });
});
