// Run under `mpirun -n N`: exercises every collective and prints one JSON line per rank.
import {
  allGather,
  allGatherJson,
  allReduce,
  barrier,
  broadcast,
  broadcastBytes,
  finalizeDist,
  initDist,
} from "../../lib/dist/mod.ts";

const d = await initDist({ launcher: "mpi" });
const { rank, worldSize } = d;
const a = new Float32Array(1000).map((_, i) => rank * 1000 + i);
await allReduce(a, "sum");
const m = new Float32Array([rank + 1, 2 * rank]);
await allReduce(m, "mean");
const b = new Int32Array(3);
if (rank === 1) b.set([7, 8, 9]);
await broadcast(b, 1);
const bb = await broadcastBytes(rank === 0 ? new TextEncoder().encode("hello from 0") : null, 0);
await barrier();
const g = await allGather(new Uint8Array(rank + 1).fill(rank + 10));
const j = await allGatherJson({ rank, tag: "r" + rank });
console.log(JSON.stringify({
  rank,
  worldSize,
  localRank: d.localRank,
  localSize: d.localSize,
  a: [a[0], a[1], a[999]],
  m: Array.from(m),
  b: Array.from(b),
  bb: new TextDecoder().decode(bb),
  g: g.map((x) => Array.from(x)),
  j,
}));
finalizeDist();
