/**
 * The one command-line parser of the `bench/` and `tools/` scripts: `node:util`'s `parseArgs`
 * (strict: an unknown option is an error) with what every script shares:
 *
 * - `-h`/`--help` prints the script's usage text and exits 0;
 * - an unknown option, a missing value or a bad value prints `error: ...` on stderr, naming the
 *   option and `--help`, and exits 2 (bad usage);
 * - typed option specs (`parseArgs`'s own, so `values` is typed), plus `variadic` string options
 *   that take every following non-option token (`--keys a b c`, as commander's `<keys...>`);
 * - a pass-through mode (`strict: false`) for scripts that forward what they do not know, e.g.
 *   `deno task test` forwarding `deno test` flags.
 *
 * `lib/cli/main.ts` (the main CLI) stays on commander.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** One option: `parseArgs`'s spec, plus `variadic` (string options only). */
export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  default?: string | boolean | string[] | boolean[];
  /** Takes every following token up to the next option (implies `multiple`). */
  variadic?: boolean;
}

/** What a script parses. */
export interface ArgsSpec<O extends Record<string, OptionSpec>> {
  /** The usage text `--help` prints (starts `Usage: deno task NAME` for a task). */
  usage: string | (() => string | Promise<string>);
  /** The options (without `help`, which every script gets). */
  options: O;
  /** Positional arguments allowed (default: none). */
  positionals?: boolean;
  /** Pass-through: unknown options are kept as positionals, in order (no error). */
  passThrough?: boolean;
  /** The arguments (default: `Deno.args`). */
  args?: string[];
}

type ValueOf<S extends OptionSpec> = S["type"] extends "boolean"
  ? (S["multiple"] extends true ? boolean[] : boolean)
  : S["variadic"] extends true ? string[]
  : S["multiple"] extends true ? string[]
  : string;

/** The parsed values: an option with a default is always set. */
export type Values<O extends Record<string, OptionSpec>> =
  & { [K in keyof O as O[K] extends { default: unknown } ? K : never]: ValueOf<O[K]> }
  & { [K in keyof O as O[K] extends { default: unknown } ? never : K]?: ValueOf<O[K]> };

/** Parsed arguments. */
export interface Parsed<O extends Record<string, OptionSpec>> {
  values: Values<O>;
  positionals: string[];
}

/** Bad usage: {@link usageError} prints it and exits 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

let helpHint = "--help";

/** Prints `error: MSG` and a pointer to `--help` on stderr and exits 2. */
export function usageError(message: string): never {
  console.error(`error: ${message} (see ${helpHint})`);
  Deno.exit(2);
}

/** `parseArgs`'s errors in the words of the rest of wgdet (`unknown option "--x"`). */
function describe(e: unknown): string {
  const err = e as Error & { code?: string };
  const quoted = /'([^']+)'/.exec(err.message)?.[1];
  if (err.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && quoted) return `unknown option "${quoted}"`;
  if (err.code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL" && quoted) {
    return `unexpected argument "${quoted}"`;
  }
  return err.message;
}

function expandVariadic(args: string[], options: Record<string, OptionSpec>): string[] {
  const variadic = new Set(
    Object.entries(options).filter(([, s]) => s.variadic).map(([k]) => `--${k}`),
  );
  if (!variadic.size) return args;
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") {
      out.push(...args.slice(i));
      break;
    }
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (!variadic.has(name)) {
      out.push(a);
      continue;
    }
    if (eq > 0) out.push(a);
    else if (i + 1 >= args.length || args[i + 1].startsWith("-")) {
      usageError(`option '${name}' needs at least one value`);
    }
    while (i + 1 < args.length && !args[i + 1].startsWith("-")) out.push(`${name}=${args[++i]}`);
  }
  return out;
}

/**
 * Parses the arguments: `--help` prints `spec.usage` and exits 0; bad usage prints `error: ...`
 * and exits 2.
 */
export async function parseCli<O extends Record<string, OptionSpec>>(
  spec: ArgsSpec<O>,
): Promise<Parsed<O>> {
  const raw = spec.args ?? Deno.args;
  const usage = typeof spec.usage === "string" ? spec.usage : undefined;
  const cmd = usage &&
    /^Usage: (deno task \S+(?: [a-z_]+(?=\s))?|deno run (?:-\S+ )*\S+\.ts)/m.exec(usage)?.[1];
  if (cmd) helpHint = `${cmd} --help`;
  const dashDash = raw.indexOf("--");
  const head = dashDash >= 0 ? raw.slice(0, dashDash) : raw;
  if (head.includes("--help") || head.includes("-h")) {
    console.log(typeof spec.usage === "string" ? spec.usage : await spec.usage());
    Deno.exit(0);
  }
  const options: Record<string, OptionSpec> = {};
  for (const [k, s] of Object.entries(spec.options)) {
    const { variadic, ...rest } = s;
    options[k] = variadic ? { ...rest, multiple: true } : rest;
  }
  try {
    const args = expandVariadic(raw, spec.options);
    if (spec.passThrough) {
      const { tokens } = parseArgs({ args, options, strict: false, tokens: true });
      // keep the unknown options (and their values) in order, as positionals
      const values: Record<string, unknown> = {};
      const positionals: string[] = [];
      for (const [k, s] of Object.entries(options)) {
        if (s.default !== undefined) values[k] = s.default;
      }
      for (const t of tokens) {
        if (t.kind === "positional") positionals.push(t.value);
        else if (t.kind === "option-terminator") positionals.push("--");
        else if (t.name in options) {
          const s = options[t.name];
          const v = s.type === "boolean" ? true : t.value;
          if (s.type === "string" && v === undefined) {
            throw new UsageError(`option '${t.rawName}' needs a value`);
          }
          values[t.name] = s.multiple ? [...((values[t.name] as unknown[]) ?? []), v] : v;
        } else positionals.push(t.value === undefined ? t.rawName : `${t.rawName}=${t.value}`);
      }
      return { values: values as Values<O>, positionals };
    }
    const { values, positionals } = parseArgs({
      args,
      options,
      allowPositionals: spec.positionals ?? false,
      strict: true,
    });
    return { values: values as Values<O>, positionals };
  } catch (e) {
    usageError(describe(e));
  }
}

/** A finite number from option `name`'s value, or a usage error naming the option. */
export function num(name: string, v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) {
    usageError(`option '--${name}' expects a number, got "${v}"`);
  }
  return n;
}

/** A non-negative integer from option `name`'s value, or a usage error naming the option. */
export function int(name: string, v: string): number {
  if (!/^\d+$/.test(v.trim())) {
    usageError(`option '--${name}' expects a non-negative integer, got "${v}"`);
  }
  return Number(v);
}
