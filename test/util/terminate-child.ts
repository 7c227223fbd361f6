// Run as a child process by test/terminate.test.ts (and by hand:
// node build-test/test/util/terminate-child.js [rounds] [sync|async]). Each round starts a worker
// thread that loops a KN forward and backward on the CPU backend (async: the ...Async ops, whose
// work runs on libuv's threads) and terminates it mid-loop: the addon's calls then fail inside
// Node-API, and must neither abort the process nor leave it unable to start the next worker.
// Exits 0 when every round ends.
import { Worker, isMainThread, parentPort, workerData } from 'worker_threads';
import { Tensor, ops } from '../../lib';

function tensors(shape: number[]): { x: Tensor; dy: Tensor } {
  const size = shape.reduce((a, b) => a * b, 1);
  const x = Tensor.fromArray(Float32Array.from({ length: size }, (_, i) => Math.sin(i)), shape);
  const dy = Tensor.fromArray(Float32Array.from({ length: size }, (_, i) => Math.cos(i)), shape);
  return { x, dy };
}

function loop(): void {
  const { x, dy } = tensors([8, 16, 8, 8]);
  for (let step = 0; ; ++step) {
    ops.kalmanNormBackward(dy, ops.kalmanNorm(x).saved);
    if (step === 2) parentPort!.postMessage('running');
  }
}

async function loopAsync(): Promise<void> {
  const { x, dy } = tensors([8, 32, 16, 16]); // ASYNC_MIN_ELEMENTS: on libuv's threads
  for (let step = 0; ; ++step) {
    await ops.kalmanNormBackwardAsync(dy, (await ops.kalmanNormAsync(x)).saved);
    if (step === 2) parentPort!.postMessage('running');
  }
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 5);
  const mode = process.argv[3] ?? 'sync';
  for (let round = 0; round < rounds; ++round) {
    const worker = new Worker(__filename, { workerData: mode });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
    // Terminate at a varying point of the loop: in a call, between calls, while reading arguments.
    await new Promise((resolve) => setTimeout(resolve, round % 4));
    await worker.terminate();
  }
  process.stdout.write(`terminated ${rounds} workers\n`);
}

if (isMainThread) {
  main().catch((error) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
} else if (workerData === 'async') {
  void loopAsync();
} else {
  loop();
}
