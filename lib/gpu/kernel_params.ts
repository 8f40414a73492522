/**
 * Named kernel interfaces: a kernel's `Params` fields are declared once, by name and type, in the
 * order of the WGSL `struct Params` ({@linkcode kernelParams}), and its uniform is packed from an
 * object ({@linkcode KernelParams.pack}) instead of positional numbers. {@linkcode defineKernel}
 * makes the {@linkcode KernelSpec} and also records the names of the storage bindings, so that
 * `tests/gpu/kernel_params_test.ts` can compare both with the WGSL (a swapped, missing or mistyped
 * field fails a test, not a training run).
 *
 * @example
 * ```ts
 * import { defineKernel, kernelParams } from "./kernel_params.ts";
 * const P = kernelParams([["n", "u32"], ["alpha", "f32"], ["beta", "f32"], ["_pad", "u32"]]);
 * const spec = defineKernel("scale", "// WGSL", P, ["x", "y"]);
 * const values = P.pack({ n: 8, alpha: 2, beta: 0 }); // [8, 2, 0, 0]
 * if (spec.params !== "uffu" || values.join() !== "8,2,0,0") throw new Error("unexpected");
 * ```
 *
 * @module
 */
import type { KernelSpec } from "./kernel.ts";

/** The scalar type of one 4-byte `Params` field. */
export type ParamType = "u32" | "i32" | "f32";

/** One field: its WGSL name and type. */
export type ParamField = readonly [name: string, type: ParamType];

/** The names a caller must give: every field except padding (names starting with `_`). */
type Given<F extends readonly ParamField[]> = Exclude<F[number][0], `_${string}`>;

/** A declared `Params` layout. */
export interface KernelParams<F extends readonly ParamField[] = readonly ParamField[]> {
  /** The fields, in declaration order. */
  readonly fields: F;
  /** One letter per field (`u`, `i`, `f`): the {@linkcode KernelSpec.params} string. */
  readonly letters: string;
  /**
   * The values in field order, from an object naming every field (padding fields, named `_…`,
   * are 0).
   *
   * @throws {TypeError} Naming the field when one is missing, unknown or not a finite number
   * (a `u32` also must be a non-negative integer, an `i32` an integer).
   */
  pack(values: { readonly [K in Given<F>]: number }): number[];
}

const LETTER: Record<ParamType, string> = { u32: "u", i32: "i", f32: "f" };

/**
 * Declares a `Params` layout: the fields of the WGSL `struct Params`, in order, padding included.
 *
 * @throws {TypeError} On a repeated field name or a type other than `u32`, `i32`, `f32`.
 */
export function kernelParams<const F extends readonly ParamField[]>(fields: F): KernelParams<F> {
  const names = new Set<string>();
  for (const [name, type] of fields) {
    if (names.has(name)) throw new TypeError(`kernelParams: field "${name}" is declared twice`);
    if (!(type in LETTER)) {
      throw new TypeError(
        `kernelParams: field "${name}" has type "${type}", expected u32, i32 or f32`,
      );
    }
    names.add(name);
  }
  const letters = fields.map(([, t]) => LETTER[t]).join("");
  return {
    fields,
    letters,
    pack(values) {
      const v = values as Record<string, number>;
      for (const k of Object.keys(v)) {
        if (!names.has(k) || k.startsWith("_")) {
          throw new TypeError(
            `Params has no field "${k}": expected ${
              fields.filter(([n]) => !n.startsWith("_")).map(([n]) => n).join(", ")
            }`,
          );
        }
      }
      return fields.map(([name, type]) => {
        if (name.startsWith("_")) return 0;
        const x = v[name];
        if (typeof x !== "number" || !Number.isFinite(x) && type !== "f32") {
          throw new TypeError(`Params field "${name}" (${type}) is ${x}: expected a number`);
        }
        if (type === "u32" && !(Number.isInteger(x) && x >= 0 && x <= 0xffffffff)) {
          throw new TypeError(
            `Params field "${name}" (u32) is ${x}: expected an integer in [0, 2^32)`,
          );
        }
        if (type === "i32" && !(Number.isInteger(x) && x >= -(2 ** 31) && x < 2 ** 31)) {
          throw new TypeError(`Params field "${name}" (i32) is ${x}: expected a 32-bit integer`);
        }
        return x;
      });
    },
  };
}

/** A kernel whose `Params` fields and storage bindings are declared by name. */
export interface NamedKernelSpec extends KernelSpec {
  /** The declared `Params` layout (its letters are {@linkcode KernelSpec.params}). */
  layout: KernelParams;
  /** Names of the storage bindings in binding order (the `Params` uniform follows them). */
  bindings: readonly string[];
}

/**
 * The {@linkcode KernelSpec} of kernel `name` with its `Params` layout and binding names.
 * `bindings` are the WGSL variable names of bindings 0, 1, …; `Params` is the next binding.
 */
export function defineKernel(
  name: string,
  source: string,
  layout: KernelParams,
  bindings: readonly string[],
): NamedKernelSpec {
  return { name, source, params: layout.letters, layout, bindings };
}
