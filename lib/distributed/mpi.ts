// The communicator of MPI_COMM_WORLD. Its engine is kn_mpi.node (csrc/mpi/), an addon of its own so
// that the product addon never links MPI; this file finds it, checks arguments and ends MPI at exit.
import * as fs from 'fs';
import * as path from 'path';
import { isMainThread } from 'worker_threads';
import { checkAllGather, checkAllReduce } from './communicator';
import type { Communicator } from './communicator';

/** The MPI group: a Communicator, and what the MPI library can do. */
export interface MpiCommunicator extends Communicator {
  /** The MPI library can move GPU memory itself (Open MPI built with CUDA: MPIX_Query_cuda_support); false for other MPIs. The communicator passes host arrays either way. */
  readonly cudaAware: boolean;
}

/** kn_mpi.node's entry points (csrc/mpi/mpi_addon.cpp). */
interface MpiAddon {
  init(): { rank: number; size: number; cudaAware: boolean };
  allGather(send: Float64Array, receive: Float64Array): void;
  /** op: OP_CODE */
  allReduce(buffer: Float64Array | Float32Array, op: number): void;
  finalize(): void;
}

const OP_CODE: Record<'sum' | 'max', number> = { sum: 0, max: 1 };

let world: MpiCommunicator | undefined;

/**
 * Where kn_mpi.node is looked for: KN_MPI_ADDON_PATH, else beside the core addon that
 * KN_ADDON_PATH names, else build/Release of the package (the source build's folder).
 */
export function mpiAddonPath(): string {
  if (process.env.KN_MPI_ADDON_PATH !== undefined) return process.env.KN_MPI_ADDON_PATH;
  const addonFolder =
    process.env.KN_ADDON_PATH !== undefined
      ? path.dirname(process.env.KN_ADDON_PATH)
      : path.resolve(__dirname, '..', '..', '..', 'build', 'Release'); // from <root>/dist/lib/distributed
  return path.join(addonFolder, 'kn_mpi.node');
}

function loadAddon(): MpiAddon {
  const file = mpiAddonPath();
  if (!fs.existsSync(file))
    throw new Error(
      'kalman-norm: mpi(): built without MPI: install libopenmpi-dev and openmpi-bin, then rebuild (KN_MPI=on) ' +
        `(looked for ${file}; KN_MPI_ADDON_PATH names another)`,
    );
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return require(file) as MpiAddon;
  } catch (error) {
    throw new Error(`kalman-norm: mpi(): cannot load ${file} (${(error as Error).message})`);
  }
}

/**
 * The group of MPI_COMM_WORLD, for processes started by `mpirun`; the same object on every call.
 * The first call starts MPI; a process started without mpirun is a group of one (Open MPI's
 * singleton). MPI ends when the process exits with code 0; after a failure it is left running,
 * so that mpirun ends the job rather than leave the other ranks waiting in a collective.
 *
 * The engine is kn_mpi.node, built beside the addon by `npm install` or `npm run build:native`
 * where MPI is found (KN_MPI=auto|on|off; on Debian, `apt-get install openmpi-bin libopenmpi-dev`).
 * The prebuilt CPU addon that the npm package carries has no MPI: then this throws the
 * "built without MPI" Error, as it does wherever kn_mpi.node is missing. Only host Float64Arrays
 * and Float32Arrays travel (KN statistics are a few values a channel), even where `cudaAware` is true.
 * Call it on the main thread: MPI is started for one calling thread (MPI_THREAD_FUNNELED).
 */
export function mpi(): MpiCommunicator {
  if (world) return world;
  if (!isMainThread) throw new Error('kalman-norm: mpi(): call it on the main thread (MPI serves one thread, MPI_THREAD_FUNNELED)');
  const addon = loadAddon();
  const { rank, size, cudaAware } = addon.init();
  process.once('exit', (code) => {
    if (code === 0) addon.finalize();
  });
  world = Object.freeze({
    rank,
    size,
    cudaAware,
    allGather(send: Float64Array, receive: Float64Array): void {
      checkAllGather(size, send, receive);
      addon.allGather(send, receive);
    },
    allReduce(buffer: Float64Array | Float32Array, op: 'sum' | 'max'): void {
      checkAllReduce(buffer, op);
      addon.allReduce(buffer, OP_CODE[op]);
    },
  });
  return world;
}
