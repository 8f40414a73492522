/**
 * The one command for a GPU machine (no Deno, no npm cache, no network there: see
 * `../shared/gpu/README.md`). In one call, under 8 minutes on an H100/H200:
 *
 * 1. the GPU-relevant tests (`GPU_TESTS`) with the tiled kernels forced (`WGDET_FORCE_TILED=1`),
 *    run by this same Deno binary as a subprocess with `--cached-only` and a time limit; their
 *    summary (passed, failed, names of failures, the tail of the output) goes into the JSON;
 * 2. the conv and GEMM benches at full RetinaNet shapes (tfjs and cuDNN peers in the same run),
 *    the train bench: tiny config vs PyTorch-CPU, R-50 RetinaNet train step (batch 2, 800×1216)
 *    and inference vs torchvision (`tools/peer_torch.py`: cuDNN, TF32 off), side by side; the
 *    Faster R-CNN bench: RoIAlign forward/backward, the tiny and R-50 Faster R-CNN train step and
 *    inference (also with flip TTA) vs torchvision's `fasterrcnn_resnet50_fpn` and `roi_align`;
 * 3. everything as one JSON: `$OUT/gpu.json` when `OUT` is set, else `bench/results/…`.
 *
 *   bash ../shared/gpu/prepare-carry.sh bench/gpu.ts
 *   bash .deno/on-gpu.sh deno run -A .deno/bundle/gpu.js [--tiny] [--no-tests] [FILTER...]
 *
 * `--tiny` (for a check on a software adapter): scaled-down shapes, a short test list.
 * `--no-tests` skips step 1; `--tests-timeout S` bounds it (default 240 s, 150 s with --tiny).
 */
import { runSuites, type Suite } from "./_run.ts";
import { run as conv } from "./conv_bench.ts";
import { run as fasterRcnn } from "./faster_rcnn_bench.ts";
import { run as gemm } from "./gemm_bench.ts";
import { run as train } from "./train_bench.ts";
import { num, parseCli, usageError } from "../tools/_args.ts";

/** Test files that exercise GPU kernels (the rest of the suite is host code). */
export const GPU_TESTS = [
  "tests/gpu/",
  "tests/ops/",
  "tests/autograd/",
  "tests/runner/optimizers_test.ts",
  "tests/models/backbones/resnet_test.ts",
  "tests/models/necks/fpn_test.ts",
  "tests/models/dense_heads/retina_head_test.ts",
  "tests/models/detectors/retinanet_parity_test.ts",
  "tests/e2e/train_step_parity_test.ts",
  "tests/models/roi_heads/",
  "tests/models/detectors/faster_rcnn_test.ts",
];

/** The short list of `--tiny`. */
export const TINY_TESTS = [
  "tests/ops/kernels_compile_test.ts",
  "tests/ops/optim_multi_test.ts",
  "tests/ops/batch_norm_test.ts",
  "tests/ops/group_norm_test.ts",
];

/** Summary of the test subprocess. */
export interface TestRun {
  command: string;
  ok: boolean;
  passed: number | null;
  failed: number | null;
  failures: string[];
  timedOut: boolean;
  seconds: number;
  tail: string;
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

/** Runs `files` with `deno test` (this binary) under `WGDET_FORCE_TILED=1`, at most `limitS`. */
export async function runGpuTests(files: string[], limitS: number): Promise<TestRun> {
  const args = ["test", "-A", "--cached-only", ...files];
  const t0 = performance.now();
  const ac = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ac.abort();
  }, limitS * 1000);
  let text = "";
  let code = -1;
  try {
    const r = await new Deno.Command(Deno.execPath(), {
      args,
      env: { WGDET_FORCE_TILED: "1", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
      signal: ac.signal,
    }).output();
    code = r.code;
    text = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
  } catch (e) {
    text = `cannot run deno test: ${(e as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
  text = text.replace(ANSI, "");
  const m = text.match(/(ok|FAILED) \| (\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed/);
  const failures = [...text.matchAll(/^(.+?) => .+$/gm)].map((x) => x[1].trim()).slice(0, 50);
  return {
    command: `WGDET_FORCE_TILED=1 deno ${args.join(" ")}`,
    ok: code === 0,
    passed: m ? Number(m[2]) : null,
    failed: m ? Number(m[4]) : null,
    failures: [...new Set(failures)],
    timedOut,
    seconds: (performance.now() - t0) / 1000,
    tail: text.slice(-4000),
  };
}

if (import.meta.main) {
  const { values, positionals: args } = await parseCli({
    usage:
      "Usage: deno run -A bench/gpu.ts [--tiny] [--no-tests] [--tests-timeout S] [--out FILE] [FILTER...]\n" +
      "GPU-relevant tests (tiled kernels forced), conv/GEMM/train benches with their PyTorch\n" +
      "and tfjs peers, one JSON ($OUT/gpu.json or bench/results/). See the module doc.",
    positionals: true,
    options: {
      tiny: { type: "boolean" },
      out: { type: "string" },
      "no-tests": { type: "boolean" },
      "tests-timeout": { type: "string" },
    },
  });
  const tiny = values.tiny === true;
  const outPath = values.out;
  const noTests = values["no-tests"] === true;
  let limit = tiny ? 150 : 240;
  if (values["tests-timeout"] !== undefined) {
    limit = num("tests-timeout", values["tests-timeout"]);
    if (!(limit > 0)) usageError(`--tests-timeout needs seconds, got ${values["tests-timeout"]}`);
  }
  let tests: TestRun | null = null;
  if (!noTests) {
    console.log(`## tests (tiled kernels forced, at most ${limit} s)`);
    tests = await runGpuTests(tiny ? TINY_TESTS : GPU_TESTS, limit);
    console.log(
      `${tests.ok ? "ok" : "NOT OK"}: ${tests.passed} passed, ${tests.failed} failed${
        tests.timedOut ? ", timed out" : ""
      } in ${tests.seconds.toFixed(0)} s${
        tests.failures.length ? `\n  ${tests.failures.join("\n  ")}` : ""
      }`,
    );
    if (tests.passed === null) console.log(tests.tail.slice(-1500));
  }
  const suites: Suite[] = [
    ["conv_bench.ts", conv],
    ["gemm_bench.ts", gemm],
    ["train_bench.ts", train],
    ["faster_rcnn_bench.ts", fasterRcnn],
  ];
  const out = Deno.env.get("OUT");
  await runSuites(suites, args, outPath ?? (out ? `${out}/gpu.json` : undefined), {
    tiny,
    extra: { tests, tiny },
  });
}
