// Running one parsed KN/GKN call: made ready (norm-ready.ts), then one native call, at once or (the
// ...Async ops) on a worker thread; a KN call synchronized over processes runs in two halves with
// an exchange between them (merged-run.ts).
import { NormBackwardCall, NormCall } from './norm-call';
import { CallDevice } from './call-device';
import { runMergedBackward, runMergedForward } from './merged-run';
import { ReadyCall, readyBackward, readyForward } from './norm-ready';
import { NormGradients, NormResult } from './normalization';

/**
 * Below this many elements of x, an ...Async op runs on the calling thread and returns a resolved
 * promise: handing the work to a thread and back costs tens of microseconds, about what the work
 * itself costs there (docs/RELIABILITY.md).
 */
export const ASYNC_MIN_ELEMENTS = 1 << 16;

function runNow<Result>(ready: ReadyCall<Result>): Result {
  ready.now();
  return ready.result();
}

/** CPU work of at least ASYNC_MIN_ELEMENTS goes to a worker thread; CUDA only queues work, so it runs now. */
function runLater<Result>(ready: ReadyCall<Result>, device: CallDevice, elements: number): Promise<Result> {
  if (device.onGpu || elements < ASYNC_MIN_ELEMENTS) return Promise.resolve(runNow(ready));
  return ready.later().then(() => ready.result());
}

/** The forward pass: one native call, on the calling thread. */
export function runNormForward(call: NormCall): NormResult {
  if (call.sync && call.mode === 'training') return runMergedForward(call);
  return runNow(readyForward(call));
}

/** The forward pass, on a worker thread when on the CPU and large enough (a synchronized call, whose exchange blocks, at once). */
export function runNormForwardAsync(call: NormCall): Promise<NormResult> {
  if (call.sync && call.mode === 'training') return Promise.resolve(runMergedForward(call));
  return runLater(readyForward(call), call.device, call.x.size);
}

/** The backward pass: one native call, on the calling thread. */
export function runNormBackward(call: NormBackwardCall): NormGradients {
  if (call.saved.merged) return runMergedBackward(call);
  return runNow(readyBackward(call));
}

/** The backward pass, on a worker thread when on the CPU and large enough (after a synchronized forward, at once). */
export function runNormBackwardAsync(call: NormBackwardCall): Promise<NormGradients> {
  if (call.saved.merged) return Promise.resolve(runMergedBackward(call));
  return runLater(readyBackward(call), call.device, call.saved.call.x.size);
}
