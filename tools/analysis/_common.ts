/**
 * What the analysis tools (`deno task analyze-logs|browse-dataset|get-flops|benchmark|
 * confusion-matrix|eval-metric`) share: the command line (commander, as `lib/cli`), config loading
 * with `--cfg-options`, `custom_imports` and the synthetic data, and errors as one line with
 * the CLI's exit codes (2 bad usage or input, 1 failure).
 */
import { Command, CommanderError } from "../../lib/deps_cli.ts";
import { describeError } from "../../lib/cli/main.ts";
import { loadCommandConfig } from "../../lib/cli/actions.ts";
import { prepareRun } from "../../lib/apis/runtime_keys.ts";
import type { Config } from "../../lib/config/mod.ts";
import { shutdownGpu } from "../../lib/gpu/runtime.ts";

/** `--cfg-options` collector. */
export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

/** A finite number option. */
export function num(v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) throw new Error(`expected a number, got "${v}"`);
  return n;
}

/** A positive integer option. */
export function int(v: string): number {
  if (!/^\d+$/.test(v.trim())) throw new Error(`expected a positive integer, got "${v}"`);
  return Number(v);
}

/** Loads a config as the CLI does, imports `custom_imports` and prepares `data.synthetic`. */
export async function loadToolConfig(path: string, cfgOptions: string[] = []): Promise<Config> {
  const cfg = await loadCommandConfig(path, cfgOptions);
  await prepareRun(cfg, { warn: (m) => console.warn(`warning: ${m}`) });
  return cfg;
}

/** A commander program named `deno task NAME` (its --help says so). */
export function toolProgram(name: string, description: string): Command {
  return new Command().name(`deno task ${name}`).description(description).exitOverride()
    .configureOutput({ writeOut: (s) => Deno.stdout.writeSync(new TextEncoder().encode(s)) })
    .helpOption("-h, --help", "print this help and exit");
}

/** Parses `Deno.args` with `program` and exits with the CLI's codes. */
// deno-lint-ignore no-explicit-any
export async function runTool(program: Command<any, any, any>): Promise<never> {
  let code = 0;
  try {
    await program.parseAsync(Deno.args, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      code = ["commander.helpDisplayed", "commander.help", "commander.version"].includes(e.code)
        ? 0
        : 2;
    } else {
      const d = describeError(e, Deno.env.get("WGDET_DEBUG") === "1");
      console.error(d.text);
      code = d.code;
    }
  }
  await shutdownGpu().catch(() => {});
  Deno.exit(code);
}
