/**
 * Long-run memory bench: trains the tiny RetinaNet (tests/e2e/_tiny.ts) for 300 iterations and
 * samples the GPU pool's live bytes and the process RSS after every iteration. After a warm-up
 * of 50 iterations both must stay flat: pool bytes-live within 1 MiB of their post-warm-up
 * value, RSS within 64 MiB (V8's heap moves with garbage collection; a leak of one batch per
 * iteration would exceed both bounds).
 *
 * Usage: deno run -A --v8-flags=--expose-gc bench/memory_bench.ts [--iters 300] [--out FILE]
 */
import { trainDetector } from "../lib/apis/train.ts";
import { getGpu } from "../lib/gpu/runtime.ts";
import { Hook } from "../lib/runner/hook.ts";
import { HOOKS } from "../lib/runner/registry.ts";
import { quietLogger, tinyConfig } from "../tests/e2e/_tiny.ts";
import { parseCli } from "../tools/_args.ts";

const { values } = await parseCli({
  usage:
    "Usage: deno run -A --v8-flags=--expose-gc bench/memory_bench.ts [--iters 300] [--out FILE]",
  // imported by bench/main.ts: its arguments are not ours
  args: import.meta.main ? Deno.args : [],
  options: { iters: { type: "string", default: "300" }, out: { type: "string" } },
});
const iters = Number(values.iters), warm = 50;
const pool: number[] = [], rss: number[] = [];

class MemorySampleHook extends Hook {
  constructor(_cfg: Record<string, unknown> = {}) {
    super();
  }
  override afterTrainIter(): void {
    pool.push(getGpu().stats().bytesLive);
    rss.push(Deno.memoryUsage().rss);
  }
}
HOOKS.register("MemorySampleHook", MemorySampleHook);

const dir = await Deno.makeTempDir({ prefix: "wgdet-mem-" });
const t0 = performance.now();
try {
  // 8 images, batch 4: 2 iterations per epoch
  const cfg = await tinyConfig([
    `runner.max_epochs=${Math.ceil(iters / 2)}`,
    "lr_config.step=[100000]",
    "checkpoint_config.interval=100000",
    "log_config.interval=50",
  ]);
  const hooks = Array.isArray(cfg.dict.custom_hooks) ? cfg.dict.custom_hooks : [];
  cfg.dict.custom_hooks = [...hooks, { type: "MemorySampleHook" }];
  const r = await trainDetector(cfg, {
    workDir: dir,
    timestamp: "20260101_000000",
    validate: false,
    seed: 0,
    logger: quietLogger(dir, "20260101_000000"),
  });
  r.model.dispose();
} finally {
  await Deno.remove(dir, { recursive: true });
}
const after = (a: number[]) => a.slice(warm);
const span = (a: number[]) => Math.max(...a) - Math.min(...a);
const MiB = 2 ** 20;
const result = {
  bench: "memory_long_run",
  iterations: pool.length,
  seconds: (performance.now() - t0) / 1000,
  warmup_iterations: warm,
  pool_bytes_live_after_warmup: { min: Math.min(...after(pool)), max: Math.max(...after(pool)) },
  pool_span_mib: span(after(pool)) / MiB,
  rss_mib_after_warmup: { first: after(rss)[0] / MiB, last: rss[rss.length - 1] / MiB },
  rss_span_mib: span(after(rss)) / MiB,
  bounds: { pool_span_mib: 1, rss_span_mib: 64 },
};
const ok = result.iterations >= iters && result.pool_span_mib <= 1 && result.rss_span_mib <= 64;
console.log(JSON.stringify({ ...result, ok }, null, 1));
if (values.out) await Deno.writeTextFile(values.out, JSON.stringify({ ...result, ok }, null, 1));
await getGpu().sync().catch(() => {});
Deno.exit(ok ? 0 : 1);
