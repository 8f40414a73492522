// Run under `mpirun -n 2`: rank 1 stalls (never enters the barrier); rank 0's watchdog (1 s)
// must abort the job with a message naming the collective.
import { barrier, initDist } from "../../lib/dist/mod.ts";

const { rank } = await initDist({ launcher: "mpi", timeout: 1 });
if (rank === 1) await new Promise((r) => setTimeout(r, 60_000));
await barrier();
console.log("unreachable");
