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
 * `loss` of every train record of the JSON log, in order.
 */
export async function trainProbe(
  wg: Wg,
  dict: Record<string, unknown>,
  workDir: string,
  files: [string, string][],
): Promise<number[]> {
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
  const recs: { mode: string; epoch: number; iter: number; loss: number }[] = [];
  for await (const e of p.readDir(workDir)) {
    if (!e.name.endsWith(".log.json")) continue;
    for (const line of (await p.readTextFile(`${workDir}/${e.name}`)).split("\n")) {
      if (line.trim()) recs.push(JSON.parse(line));
    }
  }
  return recs.filter((r) => r.mode === "train").sort((a, b) => a.epoch - b.epoch || a.iter - b.iter)
    .map((r) => r.loss);
}
