/**
 * What the analysis tools (`deno task analyze-logs|browse-dataset|get-flops|benchmark|
 * confusion-matrix|eval-metric`) share: the command line (`tools/_args.ts`, as every bench/ and tools/ script), config loading
 * with `--cfg-options`, `custom_imports` and the synthetic data, and errors as one line with
 * the CLI's exit codes (2 bad usage or input, 1 failure).
 */
import { type ArgsSpec, type OptionSpec, parseCli, type Parsed, usageError } from "../_args.ts";
import { describeError } from "../../lib/cli/main.ts";
import { loadCommandConfig } from "../../lib/cli/actions.ts";
import { prepareRun } from "../../lib/apis/runtime_keys.ts";
import type { Config } from "../../lib/config/mod.ts";
import { shutdownGpu } from "../../lib/gpu/runtime.ts";

export { int, num } from "../_args.ts";

/** Loads a config as the CLI does, imports `custom_imports` and prepares `data.synthetic`. */
export async function loadToolConfig(path: string, cfgOptions: string[] = []): Promise<Config> {
  const cfg = await loadCommandConfig(path, cfgOptions);
  await prepareRun(cfg, { warn: (m) => console.warn(`warning: ${m}`) });
  return cfg;
}

/**
 * Parses `Deno.args` with {@link parseCli} (`--help` prints `spec.usage`, bad usage exits 2) and
 * checks the positional arguments against `names` (required; a last name ending in `...` takes
 * one or more).
 */
export async function toolArgs<O extends Record<string, OptionSpec>>(
  spec: ArgsSpec<O>,
  names: string[],
): Promise<{ values: Parsed<O>["values"]; positionals: string[] }> {
  const { values, positionals } = await parseCli({ ...spec, positionals: true });
  const rest = names.at(-1)?.endsWith("...");
  const required = names.length;
  if (positionals.length < required) {
    usageError(`missing required argument '${names[positionals.length].replace("...", "")}'`);
  }
  if (!rest && positionals.length > required) {
    usageError(
      `too many arguments: expected ${required} (${names.join(", ")}), got ${positionals.length}`,
    );
  }
  return { values, positionals };
}

/** Runs a tool's body, prints an error as one line and exits with the CLI's codes. */
export async function runTool(body: () => Promise<void>): Promise<never> {
  let code = 0;
  try {
    await body();
  } catch (e) {
    const d = describeError(e, Deno.env.get("WGDET_DEBUG") === "1");
    console.error(d.text);
    code = d.code;
  }
  await shutdownGpu().catch(() => {});
  Deno.exit(code);
}
