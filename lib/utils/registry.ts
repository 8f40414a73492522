/**
 * mmcv-style registries: a name → constructor map with `build(cfg)`.
 *
 * @module
 */
import { cfgPathOf, checkUnread, trackReads } from "./cfg_rules.ts";

/** A config object with a `type` key naming a registered component. */
export interface TypedCfg {
  /** Registered name of the component to build. */
  type: string;
  /** Constructor options, passed through in the config object. */
  [key: string]: unknown;
}

/** A registrable constructor: takes the component's config object. */
// deno-lint-ignore no-explicit-any
export type Ctor<T> = new (cfg: any) => T;

function levenshtein(a: string, b: string): number {
  const m = a.length, n = b.length;
  const d = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= m; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= n; j++) {
      const tmp = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[n];
}

/**
 * A named registry of component constructors, as mmcv's `Registry`.
 *
 * @example
 * ```ts
 * import { Registry } from "./registry.ts";
 * class Foo {
 *   readonly x: number;
 *   constructor(cfg: { type: string; x?: number }) {
 *     this.x = cfg.x ?? 0; // a component reads every key it is given (unread keys are refused)
 *   }
 * }
 * const R = new Registry<Foo>("FOOS");
 * R.register("Foo", Foo);
 * const foo = R.build({ type: "Foo", x: 1 });
 * if (foo.x !== 1) throw new Error("x not passed");
 * ```
 */
export class Registry<T = unknown> {
  /** Registry name (e.g. `"HEADS"`), used in error messages. */
  readonly name: string;
  #modules = new Map<string, Ctor<T>>();

  /** Creates an empty registry called `name`. */
  constructor(name: string) {
    this.name = name;
  }

  /** Registers `ctor` under `name`; throws if the name is taken. */
  register(name: string, ctor: Ctor<T>): void {
    if (this.#modules.has(name)) {
      throw new RangeError(
        `Cannot register "${name}": the name is already in the ${this.name} registry`,
      );
    }
    this.#modules.set(name, ctor);
  }

  /** The constructor registered under `name`, or undefined. */
  get(name: string): Ctor<T> | undefined {
    return this.#modules.get(name);
  }

  /** Whether `name` is registered. */
  has(name: string): boolean {
    return this.#modules.has(name);
  }

  /** All registered names, in registration order. */
  keys(): string[] {
    return [...this.#modules.keys()];
  }

  /** The closest registered name to `name`, if one is near enough to be a typo. */
  suggest(name: string): string | undefined {
    let best: string | undefined, bestD = Infinity;
    for (const k of this.#modules.keys()) {
      const dist = levenshtein(k.toLowerCase(), name.toLowerCase());
      if (dist < bestD) [best, bestD] = [k, dist];
    }
    return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 4))
      ? best
      : undefined;
  }

  /**
   * Builds a component from `cfg`: checks `cfg.type`, fills `defaultArgs` where `cfg` has no value
   * (as Python's `setdefault`), and prefixes constructor errors with the component name.
   */
  build(cfg: TypedCfg | Record<string, unknown>, defaultArgs: Record<string, unknown> = {}): T {
    if (cfg === null || typeof cfg !== "object" || Array.isArray(cfg)) {
      throw new TypeError(
        `Cannot build from the ${this.name} registry: config must be an object, got ${
          JSON.stringify(cfg)
        }`,
      );
    }
    const type = (cfg as TypedCfg).type;
    if (typeof type !== "string") {
      throw new TypeError(
        `Cannot build from the ${this.name} registry: config has no "type" key: ${
          JSON.stringify(cfg)
        }`,
      );
    }
    const ctor = this.#modules.get(type);
    if (!ctor) {
      const hint = this.suggest(type);
      throw new RangeError(
        `Cannot build "${type}": type is not in the ${this.name} registry` +
          (hint ? `; did you mean "${hint}"?` : `; registered: ${this.keys().join(", ")}`),
      );
    }
    const args: Record<string, unknown> = { ...cfg };
    for (const [k, v] of Object.entries(defaultArgs)) if (!(k in args)) args[k] = v;
    const path = cfgPathOf(cfg);
    const { view, read } = trackReads(args, path);
    try {
      const out = new ctor(view);
      // every key the config gave must have been read by the component (defaults need not)
      checkUnread(this.name, type, Object.keys(cfg), read, path);
      return out;
    } catch (e) {
      if (
        e instanceof Error && !e.message.startsWith(`${ctor.name}: `) &&
        !e.message.startsWith("Unknown config key")
      ) {
        e.message = `${ctor.name}: ${e.message}`;
      }
      throw e;
    }
  }
}
