// Synchronizing KN statistics across processes (KN-SPEC 3d): the Communicator contract, the group
// of one process, and the group of MPI_COMM_WORLD.
export type { Communicator } from './communicator';
export { checkCommunicator, singleProcess } from './communicator';
export type { MpiCommunicator } from './mpi';
export { mpi } from './mpi';
