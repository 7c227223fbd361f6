// The contract between KN and a group of processes (KN-SPEC 3d), the group of one process, and the
// argument checks that every implementation runs before it communicates.
import { rangeError, typeError } from '../errors';

/** A group of processes that synchronize KN statistics (KN-SPEC 3d). Every rank calls each method in the same order. */
export interface Communicator {
  /** This process's index in the group, 0 .. size-1. */
  readonly rank: number;
  /** The number of processes. */
  readonly size: number;
  /** Every rank's `send` (the same length on every rank), concatenated in rank order into `receive` (size * send.length values). Blocks until all ranks have sent. */
  allGather(send: Float64Array, receive: Float64Array): void;
  /** Element-wise sum or max over ranks, in place, the same result on every rank. */
  allReduce(buffer: Float64Array | Float32Array, op: 'sum' | 'max'): void;
}

/** allGather's checks, run by every implementation: Float64Arrays, `receive` of size * send.length values and apart from `send`. */
export function checkAllGather(size: number, send: unknown, receive: unknown): void {
  if (!(send instanceof Float64Array)) throw typeError('send', 'a Float64Array', send);
  if (!(receive instanceof Float64Array)) throw typeError('receive', 'a Float64Array', receive);
  if (receive.length !== size * send.length)
    throw rangeError('receive', `expected size * send.length = ${size} * ${send.length} values, got ${receive.length}`);
  const apart =
    send.buffer !== receive.buffer ||
    send.byteOffset + send.byteLength <= receive.byteOffset ||
    receive.byteOffset + receive.byteLength <= send.byteOffset;
  if (!apart && send.length > 0) throw rangeError('receive', 'must not share memory with send');
}

/** allReduce's checks, run by every implementation: a Float64Array or Float32Array `buffer`, `op` 'sum' or 'max'. */
export function checkAllReduce(buffer: unknown, op: unknown): void {
  if (!(buffer instanceof Float64Array || buffer instanceof Float32Array))
    throw typeError('buffer', 'a Float64Array or a Float32Array', buffer);
  if (typeof op !== 'string') throw typeError('op', "'sum' or 'max'", op);
  if (op !== 'sum' && op !== 'max') throw rangeError('op', `expected 'sum' or 'max', got '${op}'`);
}

const SINGLE_PROCESS: Communicator = Object.freeze({
  rank: 0,
  size: 1,
  allGather(send: Float64Array, receive: Float64Array): void {
    checkAllGather(1, send, receive);
    receive.set(send);
  },
  allReduce(buffer: Float64Array | Float32Array, op: 'sum' | 'max'): void {
    checkAllReduce(buffer, op);  // over one rank, the sum and the max are the buffer itself
  },
});

/** The group of one process (rank 0 of 1): what a call without sync is. */
export function singleProcess(): Communicator {
  return SINGLE_PROCESS;
}

/** Throws a TypeError naming `argument` when `value` is not a Communicator (rank/size integers with 0 <= rank < size, the two methods present). Returns it typed. */
export function checkCommunicator(argument: string, value: unknown): Communicator {
  const group = value as Partial<Communicator> | null;
  if (typeof group !== 'object' || group === null) throw typeError(argument, 'a Communicator', value);
  const { rank, size } = group;
  if (!Number.isInteger(size) || (size as number) < 1 || !Number.isInteger(rank) || (rank as number) < 0 || (rank as number) >= (size as number))
    throw new TypeError(`${argument}: expected a Communicator with integers 0 <= rank < size, got rank ${String(rank)} and size ${String(size)}`);
  for (const method of ['allGather', 'allReduce'] as const)
    if (typeof group[method] !== 'function') throw new TypeError(`${argument}: expected a Communicator, ${method} is not a function`);
  return group as Communicator;
}
