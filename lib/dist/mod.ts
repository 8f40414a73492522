/**
 * Data-parallel process groups on MPI: `initDist`, `getDistInfo`, `allReduce`, `broadcast`,
 * `barrier`, `allGather`.
 *
 * @module
 */
export * from "./dist.ts";
export { DistError, DistUnavailableError, MPI_INSTALL_HINT, MPI_SONAMES } from "./mpi.ts";
