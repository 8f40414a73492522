/**
 * Probes run twice, in Deno (with `mod.ts`) and in a Chromium tab (with the browser bundle), on
 * the same inputs; the browser tests compare the two results. Each probe is self-contained (it
 * is sent to the page as source text): its only inputs are the wgdet namespace and JSON args.
 */
// deno-lint-ignore-file no-explicit-any
type Wg = any;

/** README's example: the gradient of sum(relu(x @ w)) with respect to w. */
export async function gradientProbe(wg: Wg): Promise<number[]> {
  await wg.initGpu();
  const w = wg.Tensor.from([0.5, -1, 2, 0], [2, 2], { requiresGrad: true });
  const x = wg.Tensor.from([1, 2, 3, 4], [2, 2]);
  wg.tidy(() => wg.backward(wg.F.sum(wg.F.relu(wg.F.matmul(x, w)))));
  const g = Array.from(await w.grad.toArray() as Float32Array);
  w.dispose?.();
  x.dispose?.();
  return g;
}

/**
 * A 3×3 conv (stride 1, pad 1, bias, 2×5×9×11 input, 7 output channels) forward and backward of
 * sum(out · g) on fixed pseudo-random inputs; returns out, dx, dw, db.
 */
export async function convProbe(wg: Wg): Promise<Record<string, number[]>> {
  await wg.initGpu();
  let s = 12345;
  const rnd = (n: number) =>
    Array.from({ length: n }, () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return s / 2 ** 31 - 1;
    });
  const x = wg.Tensor.from(rnd(2 * 5 * 9 * 11), [2, 5, 9, 11], { requiresGrad: true });
  const w = wg.Tensor.from(rnd(7 * 5 * 3 * 3), [7, 5, 3, 3], { requiresGrad: true });
  const b = wg.Tensor.from(rnd(7), [7], { requiresGrad: true });
  const g = wg.Tensor.from(rnd(2 * 7 * 9 * 11), [2, 7, 9, 11]);
  let out: Wg;
  wg.tidy(() => {
    out = wg.keep(wg.cnn.conv2d(x, w, b, { padding: 1 }));
    wg.backward(wg.F.sum(wg.F.mul(out, g)));
  });
  const arr = async (t: Wg) => Array.from(await t.toArray() as Float32Array);
  return {
    out: await arr(out),
    dx: await arr(x.grad),
    dw: await arr(w.grad),
    db: await arr(b.grad),
  };
}

/**
 * Trains the detector of config `dict` with `trainDetector` in work dir `workDir`, after mounting
 * `files` (`[path, url]`: each URL fetched and put at its path, in the browser only); returns the
 * train records of the JSON log (`loss`, `time` per iteration in s, …), in order.
 */
export async function trainRecordsProbe(
  wg: Wg,
  dict: Record<string, unknown>,
  workDir: string,
  files: [string, string][],
): Promise<{ loss: number; time: number }[]> {
  const p = wg.platform();
  if (p.name === "browser") {
    await Promise.all(files.map(async ([path, url]) => {
      const r = await fetch(url);
      if (!r.ok) throw new Error(`fetch ${url}: ${r.status}`);
      await wg.mountFile(path, new Uint8Array(await r.arrayBuffer()));
    }));
  }
  await p.mkdir(workDir, { recursive: true });
  const cfg = new wg.Config(structuredClone(dict), "tiny");
  const r = await wg.trainDetector(cfg, {
    workDir,
    timestamp: "20260101_000000",
    validate: false,
    seed: 0,
    logger: new wg.RunnerLogger({ console: false }),
  });
  r.model.dispose();
  const recs: { mode: string; epoch: number; iter: number; loss: number; time?: number }[] = [];
  for await (const e of p.readDir(workDir)) {
    if (!e.name.endsWith(".log.json")) continue;
    for (const line of (await p.readTextFile(`${workDir}/${e.name}`)).split("\n")) {
      if (line.trim()) recs.push(JSON.parse(line));
    }
  }
  return recs.filter((r) => r.mode === "train").sort((a, b) => a.epoch - b.epoch || a.iter - b.iter)
    .map((r) => r as unknown as { loss: number; time: number });
}

/**
 * The test pipeline's image tensor of item 0 of dataset config `data` (after mounting `files` in
 * the browser), plus the platform's direct-conv choice: `{ shape, data, directConv }`.
 */
export async function pipelineProbe(
  wg: Wg,
  data: Record<string, unknown>,
  files: [string, string][],
): Promise<{ shape: number[]; data: number[]; sum: number }> {
  if (wg.platform().name === "browser") {
    for (const [path, url] of files) {
      const r = await fetch(url);
      await wg.mountFile(path, new Uint8Array(await r.arrayBuffer()));
    }
  }
  const ds = wg.buildDataset(structuredClone(data));
  const res = ds.getItem(0);
  // the first float array inside results.img (MultiScaleFlipAug wraps it in a list)
  const find = (v: Wg): Wg => {
    if (!v || typeof v !== "object") return null;
    if (v instanceof Float32Array) return { data: v, shape: [v.length] };
    if (v.data instanceof Float32Array) return v;
    for (const x of Array.isArray(v) ? v : Object.values(v)) {
      const f = find(x);
      if (f) return f;
    }
    return null;
  };
  const t = find(res.img);
  if (!t) throw new Error(`no float image in results.img (keys ${Object.keys(res)})`);
  const arr = Array.from(t.data as Float32Array);
  return {
    shape: Array.from(t.shape ?? [arr.length]),
    data: arr,
    sum: arr.reduce((a, b) => a + b, 0),
  };
}

/**
 * Inference timing: the detector of `dict` with the weights `checkpoint` on `image` (both already
 * on the platform's file system), run `reps` times after one warm-up; returns ms per image.
 */
export async function inferProbe(
  wg: Wg,
  dict: Record<string, unknown>,
  checkpoint: string,
  image: string,
  reps: number,
): Promise<number> {
  const cfg = new wg.Config(structuredClone(dict), "tiny");
  const imgs = Array.from({ length: reps + 1 }, () => image);
  const t: number[] = [];
  let last = performance.now();
  await wg.inferImages(cfg, checkpoint, imgs, {
    outDir: "/tmp/wgdet-infer-probe",
    log: () => {
      const now = performance.now();
      t.push(now - last);
      last = now;
    },
  });
  return t.slice(1).reduce((a, b) => a + b, 0) / reps;
}
