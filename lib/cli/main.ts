/**
 * The `wgdet` command line: `train`, `test` and `infer` (behind `deno task train|eval|infer`).
 *
 * Exit codes: 0 success; 1 failure (training diverged, bad data, an API error); 2 bad usage or
 * environment (unknown option, bad config or config key, missing file, no GPU). Errors print as one
 * line (one paragraph for a missing GPU); `WGDET_DEBUG=1` adds the stack trace.
 *
 * @example
 * ```sh
 * deno run -A lib/cli/main.ts train configs/retinanet/retinanet_tiny_shapes.ts --cfg-options runner.max_epochs=1
 * ```
 *
 * @module
 */
import { shutdownGpu } from "../gpu/runtime.ts";
import { abortDist, finalizeDist, getDistInfo } from "../dist/dist.ts";
import { Command, CommanderError, InvalidArgumentError } from "../deps_cli.ts";
import { ConfigError, GpuUnavailableError } from "../utils/errors.ts";
import { VERSION } from "../utils/version.ts";
import { setAllowRemoteConfig } from "../config/config.ts";
import {
  type ApiLoader,
  defaultApiLoader,
  inferCommand,
  testCommand,
  trainCommand,
} from "./actions.ts";

/** Exit code of a failed run. */
export const EXIT_FAILURE = 1;
/** Exit code of bad usage or a bad environment. */
export const EXIT_USAGE = 2;

function parseInteger(v: string): number {
  if (!/^[+-]?\d+$/.test(v.trim())) {
    throw new InvalidArgumentError(`expected an integer, got "${v}"`);
  }
  return Number(v);
}

function parseFloatArg(v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) {
    throw new InvalidArgumentError(`expected a number, got "${v}"`);
  }
  return n;
}

function parseLauncher(v: string): "none" | "mpi" {
  if (v !== "none" && v !== "mpi") {
    throw new InvalidArgumentError(`expected "none" or "mpi", got "${v}"`);
  }
  return v;
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

/** Exit code and printed text for an error thrown by a command. */
export function describeError(e: unknown, debug = false): { code: number; text: string } {
  const err = e instanceof Error ? e : new Error(String(e));
  const stack = debug && err.stack ? `\n${err.stack}` : "";
  if (err instanceof GpuUnavailableError) {
    return { code: EXIT_USAGE, text: `error: ${err.message}${stack}` };
  }
  const firstLine = err.message.split("\n")[0];
  const usage = err instanceof ConfigError || err.name === "DistUnavailableError" ||
    err instanceof Deno.errors.NotFound ||
    err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.NotCapable;
  const prefix = usage || err.name === "Error" ? "error" : `error: ${err.name}`;
  const hint = debug ? "" : " (set WGDET_DEBUG=1 for details)";
  const text = usage && !debug
    ? `${prefix}: ${firstLine}`
    : `${prefix}: ${firstLine}${usage ? "" : hint}${stack}`;
  return { code: usage ? EXIT_USAGE : EXIT_FAILURE, text };
}

/** Builds the commander program; actions call `apis` for the real work. */
export function buildProgram(apis: ApiLoader = defaultApiLoader) {
  const program = new Command()
    .name("wgdet")
    .description("Train, evaluate and run mmdetection-style detectors on WebGPU")
    .version(VERSION)
    .showSuggestionAfterError(true)
    .option(
      "--allow-remote-config",
      "allow configs that run code from a URL, or .ts/.js bases of a JSON config (see README: Security)",
    )
    .hook("preAction", (cmd) => {
      if (cmd.opts().allowRemoteConfig) setAllowRemoteConfig(true);
    })
    .exitOverride();

  program.command("train")
    .description("Train a detector (default: the tiny RetinaNet on synthetic shapes)")
    .argument("[config]", "config file (.ts or .json)")
    .option(
      "--work-dir <dir>",
      "folder for logs and checkpoints (default: work_dirs/<config name>)",
    )
    .option(
      "--resume-from <checkpoint>",
      "resume training from a checkpoint (weights, optimizer, epoch)",
    )
    .option(
      "--auto-resume",
      "resume from the newest complete checkpoint in the work dir, if there is one",
    )
    .option(
      "--load-from <checkpoint>",
      "start from these weights (epoch 0): .safetensors, .pth, torchvision://NAME, open-mmlab://NAME",
    )
    .option("--allow-nonfinite", "load checkpoints holding NaN/Inf weights (refused by default)")
    .option(
      "--cfg-options <key=value...>",
      "override config keys, e.g. optimizer.lr=0.005 data.samples_per_gpu=4",
      collect,
    )
    .option("--seed <int>", "random seed", parseInteger)
    .option("--no-validate", "do not evaluate checkpoints during training")
    .option(
      "--launcher <launcher>",
      'job launcher: "none" (one process) or "mpi" (data-parallel under mpirun/srun --mpi)',
      parseLauncher,
    )
    .option(
      "--auto-scale-lr",
      "scale optimizer.lr by (processes × samples_per_gpu) / auto_scale_lr.base_batch_size",
    )
    .exitOverride()
    .action(async (config, o) => {
      await trainCommand(config, {
        workDir: o.workDir,
        resumeFrom: o.resumeFrom,
        autoResume: o.autoResume,
        loadFrom: o.loadFrom,
        allowNonfinite: o.allowNonfinite,
        cfgOptions: o.cfgOptions,
        seed: o.seed,
        validate: o.validate,
        launcher: o.launcher,
        autoScaleLr: o.autoScaleLr,
      }, apis);
    });

  program.command("test")
    .description("Evaluate a checkpoint on the config's test set")
    .argument("<config>", "config file")
    .argument(
      "<checkpoint>",
      "checkpoint (.safetensors or .pth, a work dir, or its latest pointer)",
    )
    .option(
      "--eval <metrics...>",
      'metrics: "bbox" (COCO), "mAP" (VOC), "proposal_fast" / "proposal" (RPN recall, COCO), "recall" (VOC)',
    )
    .option(
      "--out <file>",
      "write the detections: results.pkl (mmdet's pickle of per-class [k,5] float32 arrays) or .json",
    )
    .option(
      "--format-only",
      "only write the results in the dataset's format (COCO JSON, needs --eval-options jsonfile_prefix=PATH)",
    )
    .option(
      "--eval-options <key=value...>",
      "evaluation options, e.g. classwise=True jsonfile_prefix=work_dirs/res (writes res.bbox.json)",
      collect,
    )
    .option("--show-dir <dir>", "write images with the detections drawn")
    .option(
      "--show-score-thr <float>",
      "score threshold of the drawings (default 0.3)",
      parseFloatArg,
    )
    .option("--cfg-options <key=value...>", "override config keys", collect)
    .option(
      "--launcher <launcher>",
      'job launcher: "none" or "mpi" (each rank tests a shard, rank 0 evaluates)',
      parseLauncher,
    )
    .exitOverride()
    .action(async (config, checkpoint, o) => {
      await testCommand(config, checkpoint, {
        launcher: o.launcher,
        eval: o.eval,
        out: o.out,
        formatOnly: o.formatOnly,
        evalOptions: o.evalOptions,
        showDir: o.showDir,
        showScoreThr: o.showScoreThr,
        cfgOptions: o.cfgOptions,
      }, apis);
    });

  program.command("infer")
    .description("Detect objects in image files and write PNGs with boxes, class names and scores")
    .argument("<config>", "config file")
    .argument(
      "<checkpoint>",
      "checkpoint (.safetensors or .pth, a work dir, or its latest pointer)",
    )
    .argument("<images...>", "image files (JPEG or PNG)")
    .option("--out-dir <dir>", "output folder (default: work_dirs/<config name>/infer)")
    .option("--score-thr <float>", "draw boxes with score ≥ this (default 0.3)", parseFloatArg)
    .option("--cfg-options <key=value...>", "override config keys", collect)
    .exitOverride()
    .action(async (config, checkpoint, images, o) => {
      await inferCommand(config, checkpoint, images, {
        outDir: o.outDir,
        scoreThr: o.scoreThr,
        cfgOptions: o.cfgOptions,
      }, apis);
    });
  return program;
}

/** Options of {@linkcode main}. */
export interface MainOptions {
  /** Where the API modules come from (tests inject fakes). */
  apis?: ApiLoader;
  /** Print the stack trace of errors (default: `WGDET_DEBUG=1`). */
  debug?: boolean;
}

/**
 * Runs the CLI on `argv` (without the program name) and returns the exit code.
 */
export async function main(argv: string[], opts: MainOptions = {}): Promise<number> {
  const debug = opts.debug ?? Deno.env.get("WGDET_DEBUG") === "1";
  const program = buildProgram(opts.apis);
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander has printed the message (or the help) already
      return ["commander.helpDisplayed", "commander.help", "commander.version"].includes(e.code)
        ? 0
        : EXIT_USAGE;
    }
    const { code, text } = describeError(e, debug);
    const dist = getDistInfo();
    if (dist.worldSize > 1) {
      // end the whole job now rather than leave the other ranks waiting in a collective
      console.error(`rank ${dist.rank}: ${text}`);
      abortDist(code);
    }
    console.error(text);
    return code;
  }
}

if (import.meta.main) {
  const code = await main(Deno.args);
  // destroy the device before exiting rather than in V8's exit finalizers (see Gpu.shutdown)
  await shutdownGpu().catch(() => {});
  finalizeDist(); // MPI_Finalize under a launcher
  Deno.exit(code);
}
