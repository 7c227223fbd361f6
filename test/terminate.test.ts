// Terminating a worker thread in the middle of the addon's calls must end that worker only: each
// child process below terminates workers that loop a KN forward and backward (test/util/terminate-child.ts).
// Before the addon dropped the errors that a terminating environment can no longer throw, nearly
// every child aborted with "terminate called after throwing an instance of 'Napi::Error'".
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as path from 'path';

describe('worker.terminate() during addon calls', () => {
  for (const mode of ['sync', 'async']) {
    it(`ends the worker, never the process (${mode} ops; 3 processes x 10 terminations)`, () => {
      terminateWorkers(mode);
    });
  }
});

function terminateWorkers(mode: string): void {
  const child = path.join(__dirname, 'util', 'terminate-child.js');
  for (let run = 0; run < 3; ++run) {
    const result = spawnSync(process.execPath, [child, '10', mode], { encoding: 'utf8', timeout: 50_000 });
    const output = `${result.stdout}${result.stderr}`;
    expect(output, `run ${run}`).not.to.contain('terminate called');
    expect(result.signal, `run ${run}: ${output}`).to.equal(null);
    expect(result.status, `run ${run}: ${output}`).to.equal(0);
    expect(result.stdout).to.contain('terminated 10 workers');
  }
}
