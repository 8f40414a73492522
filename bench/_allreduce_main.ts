// Run under `mpirun -n N` by bench/dist_bench.ts: all-reduce (sum, in place) of 1-100 MB float32
// buffers; rank 0 prints one JSON line per size with the median time of `reps` calls.
import { allReduce, barrier, finalizeDist, initDist } from "../lib/dist/mod.ts";

const { rank, worldSize } = await initDist({ launcher: "mpi" });
for (const mb of [1, 4, 16, 64, 100]) {
  const buf = new Float32Array(mb * 1024 * 1024 / 4).fill(rank + 1);
  await allReduce(buf, "sum"); // warm-up (connection set-up, page faults)
  const reps = mb >= 64 ? 3 : 5;
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    await barrier();
    const t0 = performance.now();
    await allReduce(buf, "sum");
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  if (rank === 0) console.log(JSON.stringify({ mb, worldSize, seconds: times[times.length >> 1] }));
}
finalizeDist();
