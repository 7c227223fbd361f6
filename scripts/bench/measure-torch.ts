// The CPU peer a user who trains on a CPU would compare with: PyTorch's BatchNorm2d / GroupNorm in
// training mode (torch_peer.py), run in a Python child process with the same thread count and the
// same timing, one shape at a time between this package's measurements of that shape, so machine
// noise hits both. Found as the first of KN_PYTHON, python3 and /usr/bin/python3 that imports
// torch (Debian: apt-get install python3-torch).
import { ChildProcessWithoutNullStreams, spawn, spawnSync } from 'child_process';
import * as path from 'path';
import * as readline from 'readline';
import { Layout } from '../../lib';
import { Sampling } from '../timing';
import { PassTimes } from './measure-ours';
import { BenchShape } from './shapes';

// PyTorch's OpenMP threads spin for a while after its last step; ours are timed after they park.
const SETTLE_MS = 300;

const SCRIPT = path.join(__dirname, '..', '..', '..', 'scripts', 'bench', 'torch_peer.py');

/** The Python that has torch, or null. */
function findPython(): string | null {
  const candidates = [process.env.KN_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c);
  for (const python of candidates) {
    const probe = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
    if (probe.status === 0) return python;
  }
  return null;
}

export class TorchPeer {
  private readonly answers: AsyncIterableIterator<string>;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    this.answers = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  }

  /** The peer on `threads` threads, or why there is none. */
  static start(threads: number): TorchPeer | { reason: string } {
    const python = findPython();
    if (!python) return { reason: 'PyTorch not found: install python3-torch' };
    const child = spawn(python, [SCRIPT, String(threads)], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stderr.on('data', (chunk) => process.stderr.write(chunk));
    return new TorchPeer(child);
  }

  /** Median milliseconds of BN (for a KN shape) or GN (for a GKN shape) in training mode. */
  async measure(shape: BenchShape, layout: Layout, sampling: Sampling): Promise<PassTimes> {
    const request = { op: shape.op === 'kn' ? 'bn' : 'gn', n: shape.n, c: shape.c, hw: shape.hw, groups: shape.groups, layout, ...sampling };
    this.child.stdin.write(`${JSON.stringify(request)}\n`);
    const answer = await this.answers.next();
    if (answer.done) throw new Error('PyTorch peer: the Python process ended (see its output above)');
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    return JSON.parse(answer.value) as PassTimes;
  }

  close(): void {
    this.child.stdin.end();
  }
}
