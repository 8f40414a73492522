// Run under `mpirun -n N`: GradientAllReducer over parameters of assorted sizes in many small
// buckets; rank r's gradient of parameter k is (r + 1)·(k + 1)·(i + 1) at element i, and
// parameter 2 has no gradient on rank 1. Writes the reduced gradients to DIR/rank<r>.json
// (mpirun interleaves long stdout lines of several ranks).
import { GradientAllReducer } from "../../lib/apis/distributed.ts";
import { keep, Tensor } from "../../lib/autograd/tensor.ts";
import { finalizeDist, initDist } from "../../lib/dist/mod.ts";
import { getGpu, initGpu } from "../../lib/gpu/runtime.ts";

const { rank } = await initDist({ launcher: "mpi" });
await initGpu();
const sizes = [3, 700, 64, 1, 1500, 33];
const params: [string, Tensor][] = sizes.map((n, k) => {
  const p = keep(Tensor.from(new Float32Array(n), [n], { requiresGrad: true }));
  if (!(k === 2 && rank === 1)) {
    p.grad = keep(
      Tensor.from(Float32Array.from({ length: n }, (_, i) => (rank + 1) * (k + 1) * (i + 1)), [n]),
    );
  }
  return [`p${k}`, p];
});
const frozen = keep(Tensor.from(new Float32Array(4), [4]));
params.push(["frozen", frozen]);
const reducer = new GradientAllReducer(params, { bucketCapMb: 1000 * 4 / (1024 * 1024) });
const before = getGpu().stats().readbacks;
await reducer.reduce();
const readbacks = getGpu().stats().readbacks - before;
const grads = await getGpu().readMany(params.slice(0, sizes.length).map(([, p]) => p.grad!.raw));
await Deno.writeTextFile(
  `${Deno.args[0]}/rank${rank}.json`,
  JSON.stringify({
    rank,
    buckets: reducer.bucketSizes,
    readbacks,
    frozenGrad: frozen.grad === null,
    grads: grads.map((g) => Array.from(g)),
  }),
);
await getGpu().shutdown();
finalizeDist();
