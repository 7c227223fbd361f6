// A KN call whose statistics are merged over several processes (KN-SPEC 3d, docs/DISTRIBUTED.md):
// the native call split at its per-unit sums (CallPart in csrc/common/kalman_norm_call.h). The
// sums half writes this process's (count, mean, M2) per unit (backward: its sums of g and
// g (x - mu) and its share of the posterior's gradients); the processes exchange them in rank
// order (an all-gather); the finish half merges every process's, in rank order, so that every
// process computes the same bits, and does the rest.
import { CALL_PART, DeviceBuffer, NativeBackward, NativeTrainingForward, Placed, SumsMemory, native } from '../binding';
import type { Communicator } from '../distributed/communicator';
import { rangeError, typeError } from '../errors';
import { CallDevice } from './call-device';
import { NormBackwardCall, NormCall } from './norm-call';
import { ReadyCall, readyBackward, readyForward } from './norm-ready';
import { NormGradients, NormResult } from './normalization';
import { MergedForward } from './saved-state';

/** Values per unit of a forward's sums (count, mean, M2) and of a backward's (UnitGradientPart). */
const MOMENT_FIELDS = 3;
const GRADIENT_FIELDS = 4;

/** Room for `values` float64 sums where the call runs. */
function sumsMemory(device: CallDevice, values: number): SumsMemory {
  return device.onGpu ? native().deviceAlloc!(values * 8, 0) : new Float64Array(values);
}

/** Sums the sums half wrote, on the host (on CUDA this waits for the GPU). */
function hostSums(memory: SumsMemory, device: CallDevice): Float64Array {
  if (memory instanceof Float64Array) return memory;
  const host = new Float64Array(memory.bytes / 8);
  native().copyToHost!(host, memory, device.stream);
  return host;
}

/** Every process's sums where the finish half reads them. */
function placedSums(gathered: Float64Array, device: CallDevice): SumsMemory {
  if (!device.onGpu) return gathered;
  const buffer = native().deviceAlloc!(gathered.length * 8, 0) as DeviceBuffer;
  native().copyToDevice!(buffer, gathered, device.stream);
  return buffer;
}

/** How many processes' rows `gathered` holds: a Float64Array of a whole number (>= 1) of rows of `rowLength`. */
function gatheredParts(gathered: unknown, rowLength: number, statistics: string): number {
  if (!(gathered instanceof Float64Array)) throw typeError('gathered', 'a Float64Array', gathered);
  if (gathered.length === 0 || gathered.length % rowLength !== 0)
    throw rangeError('gathered', `expected every process's ${statistics} in rank order: a multiple of ${rowLength} values, got ${gathered.length}`);
  return gathered.length / rowLength;
}

/** Every rank's `send`, in rank order. */
function allGather(sync: Communicator, send: Float64Array): Float64Array {
  const receive = new Float64Array(send.length * sync.size);
  sync.allGather(send, receive);
  return receive;
}

/** The native argument of a call that can be split: its part, and where its rows of sums are. */
type SplitArgs<Field extends string> = { part: number; parts: number } & { [name in Field]: SumsMemory | null };

/**
 * One split call: its sums half runs at construction and leaves this process's rows on the host;
 * finish() runs its finish half, once, on every process's rows.
 */
class SplitCall<Result, Field extends 'unitMoments' | 'unitSums', Args extends SplitArgs<Field>> {
  readonly rows: Float64Array;
  private finished = false;

  constructor(
    readonly ready: ReadyCall<Result, Args>,
    private readonly field: Field,
    private readonly device: CallDevice,
    values: number,
    private readonly run: (args: Args) => void,
  ) {
    const memory = sumsMemory(device, values);
    ready.args.part = CALL_PART.sums;
    Object.assign(ready.args, { [field]: memory });
    run(ready.args);
    this.rows = hostSums(memory, device);
  }

  finish(gathered: Float64Array, parts: number): Result {
    if (this.finished) throw new Error('statistics: already applied (its outputs, and a forward\'s running estimates, are written)');
    this.finished = true;
    const args = this.ready.args;
    args.part = CALL_PART.finish;
    args.parts = parts;
    Object.assign(args, { [this.field]: placedSums(gathered, this.device) });
    this.run(args);
    return this.ready.result();
  }
}

/** The first half of a KN forward whose statistics are merged over processes: see kalmanNormStatistics. */
export class KalmanNormStatistics {
  /** This process's (count, mean, M2) per unit, [units][3] in the posterior's unit order (float64). */
  readonly moments: Float64Array;
  /** @internal */
  readonly split: SplitCall<NormResult, 'unitMoments', Placed<NativeTrainingForward>>;

  /** @internal */
  constructor(call: NormCall) {
    const [rows, cols] = call.geometry.unitShape;
    const ready = readyForward(call) as ReadyCall<NormResult, Placed<NativeTrainingForward>>;
    this.split = new SplitCall(ready, 'unitMoments', call.device, rows * cols * MOMENT_FIELDS, (args) => native().kalmanNormForwardTraining(args));
    this.moments = this.split.rows;
  }
}

/** The second half: every process's moments merged in rank order, then the rest of the forward. */
export function applyStatistics(statistics: KalmanNormStatistics, gathered: unknown, sync: Communicator | null = null): NormResult {
  if (!(statistics instanceof KalmanNormStatistics)) throw typeError('statistics', 'the result of kalmanNormStatistics', statistics);
  const moments = statistics.moments;
  const parts = gatheredParts(gathered, moments.length, 'moments (kalmanNormStatistics(...).moments)');
  const rows = gathered as Float64Array;
  let unitSize = 0;
  for (let part = 0; part < parts; ++part) {
    const count = rows[part * moments.length];
    if (!(count > 0 && Number.isInteger(count))) throw rangeError('gathered', `process ${part}'s count must be a positive integer, got ${count}`);
    unitSize += count;
  }
  const result = statistics.split.finish(rows, parts);
  result.saved.merged = { parts, unitSize, sync } satisfies MergedForward;
  return result;
}

/** The first half of the backward of a merged forward: see kalmanNormBackwardStatistics. */
export class KalmanNormBackwardStatistics {
  /**
   * This process's part of each unit's backward sums, [units][4]: the sums of g = gamma dy and of
   * g (x - mu) over its elements, and the dMean and dVar it was given (its share).
   */
  readonly sums: Float64Array;
  /** @internal */
  readonly split: SplitCall<NormGradients, 'unitSums', Placed<NativeBackward>>;
  /** @internal */
  readonly merged: MergedForward;

  /** @internal */
  constructor(call: NormBackwardCall) {
    this.merged = call.saved.merged!;
    this.split = new SplitCall(readyBackward(call), 'unitSums', call.device, call.saved.units * GRADIENT_FIELDS, (args) => native().kalmanNormBackward(args));
    this.sums = this.split.rows;
  }
}

/** The second half: every process's sums added in rank order, then dx and the prior and gain gradients (this process's share). */
export function applyBackwardStatistics(statistics: KalmanNormBackwardStatistics, gathered: unknown): NormGradients {
  if (!(statistics instanceof KalmanNormBackwardStatistics))
    throw typeError('statistics', 'the result of kalmanNormBackwardStatistics', statistics);
  const merged = statistics.merged;
  const parts = gatheredParts(gathered, statistics.sums.length, 'sums (kalmanNormBackwardStatistics(...).sums)');
  if (parts !== merged.parts)
    throw rangeError('gathered', `the forward merged ${merged.parts} processes' statistics, these sums come from ${parts}`);
  statistics.split.ready.args.unitSize = merged.unitSize;
  return statistics.split.finish(gathered as Float64Array, parts);
}

/** A forward with `sync`: its sums, the exchange, its finish. */
export function runMergedForward(call: NormCall): NormResult {
  const statistics = new KalmanNormStatistics(call);
  return applyStatistics(statistics, allGather(call.sync!, statistics.moments), call.sync);
}

/** The backward of a forward with `sync`, the same way. */
export function runMergedBackward(call: NormBackwardCall): NormGradients {
  const sync = call.saved.merged!.sync;
  if (!sync)
    throw new Error('saved: its forward merged the statistics of several processes through kalmanNormApply; use kalmanNormBackwardStatistics and kalmanNormBackwardApply');
  const statistics = new KalmanNormBackwardStatistics(call);
  return applyBackwardStatistics(statistics, allGather(sync, statistics.sums));
}
