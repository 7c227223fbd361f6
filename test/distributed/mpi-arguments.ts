// Run under mpirun by scripts/mpi-test.sh, and by test/distributed/communicator.test.ts without it
// (MPI as a group of one): each wrong argument to mpi()'s methods throws an error of its kind whose
// message starts with the argument's name, on every rank alike and before MPI is called (so no
// rank waits in a collective) or anything is written; a valid call then still works. Exits 0, or
// prints each failure and exits 1. communicator.test.ts runs argumentFailures on singleProcess() too.
import { mpi } from '../../lib/distributed';
import type { Communicator } from '../../lib/distributed';

const SENTINEL = 7;

interface ArgumentCase {
  what: string;
  /** The array that the call may not write (filled with SENTINEL first), for a group of `size`. */
  output: (size: number) => Float64Array | Float32Array | Int32Array;
  call: (group: Communicator, output: Float64Array | Float32Array | Int32Array) => void;
  kind: typeof TypeError | typeof RangeError;
  argument: string;
}

// Wrong types are passed through `unknown`, as from JavaScript.
const cases: ArgumentCase[] = [
  {
    what: 'allGather: send as a Float32Array',
    output: (size) => new Float64Array(2 * size),
    call: (group, output) => group.allGather(new Float32Array(2) as unknown as Float64Array, output as Float64Array),
    kind: TypeError,
    argument: 'send',
  },
  {
    what: 'allGather: send as an Array',
    output: (size) => new Float64Array(2 * size),
    call: (group, output) => group.allGather([1, 2] as unknown as Float64Array, output as Float64Array),
    kind: TypeError,
    argument: 'send',
  },
  {
    what: 'allGather: receive as a Float32Array',
    output: (size) => new Float32Array(2 * size),
    call: (group, output) => group.allGather(new Float64Array(2), output as unknown as Float64Array),
    kind: TypeError,
    argument: 'receive',
  },
  {
    what: 'allGather: receive one value short',
    output: (size) => new Float64Array(2 * size - 1),
    call: (group, output) => group.allGather(new Float64Array(2), output as Float64Array),
    kind: RangeError,
    argument: 'receive',
  },
  {
    what: 'allGather: receive one value long',
    output: (size) => new Float64Array(2 * size + 1),
    call: (group, output) => group.allGather(new Float64Array(2), output as Float64Array),
    kind: RangeError,
    argument: 'receive',
  },
  {
    what: 'allGather: receive sharing memory with send',
    output: (size) => new Float64Array(2 * size + 1).subarray(1),
    call: (group, output) => group.allGather(new Float64Array(output.buffer, 0, 2), output as Float64Array),
    kind: RangeError,
    argument: 'receive',
  },
  {
    what: 'allReduce: buffer as an Int32Array',
    output: () => new Int32Array(3),
    call: (group, output) => group.allReduce(output as unknown as Float64Array, 'sum'),
    kind: TypeError,
    argument: 'buffer',
  },
  {
    what: "allReduce: op 'min'",
    output: () => new Float64Array(3),
    call: (group, output) => group.allReduce(output as Float64Array, 'min' as unknown as 'sum'),
    kind: RangeError,
    argument: 'op',
  },
  {
    what: 'allReduce: op as a number',
    output: () => new Float32Array(3),
    call: (group, output) => group.allReduce(output as Float32Array, 0 as unknown as 'sum'),
    kind: TypeError,
    argument: 'op',
  },
];

/** What `group` got wrong in the cases above, and in a valid allGather after them: empty when nothing. */
export function argumentFailures(group: Communicator): string[] {
  const failures: string[] = [];
  for (const c of cases) {
    const output = c.output(group.size).fill(SENTINEL);
    try {
      c.call(group, output);
      failures.push(`${c.what}: no error`);
    } catch (error) {
      const { constructor, message } = error as Error;
      if (constructor !== c.kind || !message.startsWith(`${c.argument}:`))
        failures.push(`${c.what}: expected a ${c.kind.name} naming ${c.argument}, got ${constructor.name}: ${message}`);
    }
    const written = output.findIndex((value) => value !== SENTINEL);
    if (written >= 0) failures.push(`${c.what}: wrote ${output[written]} at index ${written}`);
  }
  const receive = new Float64Array(2 * group.size);
  group.allGather(new Float64Array([group.rank, 0.5]), receive);
  const expected = Array.from({ length: group.size }, (_, rank) => [rank, 0.5]).flat();
  if (receive.some((value, i) => value !== expected[i]))
    failures.push(`a valid allGather after the errors: expected [${expected}], got [${receive}]`);
  return failures;
}

if (require.main === module) {
  const group = mpi();
  const failures = argumentFailures(group);
  for (const failure of failures) console.error(`mpi-arguments: rank ${group.rank} of ${group.size}: ${failure}`);
  if (failures.length === 0) console.log(`mpi-arguments: rank ${group.rank} of ${group.size}: ok (${cases.length} cases)`);
  process.exitCode = failures.length === 0 ? 0 : 1;
}
