// CPU-only: every kernel's `struct Params` (and, for kernels declared with defineKernel, its
// field names and storage bindings) against the TypeScript declaration.
import { assert } from "../_assert.ts";
import { bindings, structMembers } from "../_wgsl.ts";
import { type KernelSpec, resolveKernelSource } from "../../lib/gpu/kernel.ts";
import { kernelParams, type NamedKernelSpec } from "../../lib/gpu/kernel_params.ts";
import { directKernel, type DirectKernelName } from "../../lib/ops/conv2d_variants.ts";
import { DIRECT_SIZES } from "../../kernels/gen/mod.ts";

/** Kernels whose TypeScript side must use named fields (defineKernel). */
const MIGRATED = [
  "unary",
  "fill",
  "cast",
  "group_norm_forward",
  "group_norm_backward",
  "group_norm_wsum",
  "interpolate",
  "matmul",
];

const LETTER: Record<string, string> = { u32: "u", i32: "i", f32: "f" };

interface Slot {
  /** Field path, e.g. `n` or `phases[1].py`. */
  name: string;
  letter: string;
}

/**
 * The 4-byte slots of `struct name` in `code` under WGSL's uniform layout rules, or an error
 * naming implicit padding (every kernel spells its padding out).
 */
function slots(code: string, name: string, prefix = ""): { slots: Slot[]; align: number } {
  const members = structMembers(code, name);
  if (!members) throw new Error(`no struct ${name}`);
  const out: Slot[] = [];
  let maxAlign = 4;
  const place = (field: string, type: string): void => {
    const scalar = LETTER[type];
    if (scalar) {
      out.push({ name: field, letter: scalar });
      return;
    }
    let m = /^vec([234])<(u32|i32|f32)>$/.exec(type);
    if (m) {
      const n = +m[1], align = n === 2 ? 8 : 16;
      maxAlign = Math.max(maxAlign, align);
      if ((out.length * 4) % align) throw new Error(`${field}: implicit padding before a ${type}`);
      for (let i = 0; i < n; i++) out.push({ name: `${field}.${"xyzw"[i]}`, letter: LETTER[m[2]] });
      if (n === 3) throw new Error(`${field}: vec3 leaves implicit padding`);
      return;
    }
    m = /^array<(.+),(\d+)>$/.exec(type);
    if (m) {
      for (let i = 0; i < +m[2]; i++) {
        const before = out.length;
        place(`${field}[${i}]`, m[1]);
        if (((out.length - before) * 4) % 16) {
          throw new Error(`${field}: uniform array elements must be 16-byte multiples`);
        }
      }
      return;
    }
    // a nested struct
    const inner = slots(code, type, `${field}.`);
    maxAlign = Math.max(maxAlign, inner.align);
    if ((out.length * 4) % inner.align) {
      throw new Error(`${field}: implicit padding before ${type}`);
    }
    out.push(...inner.slots.map((s) => ({ ...s, name: s.name })));
  };
  for (const mem of members) place(prefix + mem.name, mem.type);
  if ((out.length * 4) % maxAlign) throw new Error(`struct ${name}: implicit padding at its end`);
  return { slots: out, align: maxAlign };
}

/** Differences between a spec and its WGSL (empty when they agree). */
function compare(spec: KernelSpec): string[] {
  const code = resolveKernelSource(spec.source, spec.name).code;
  const bad: string[] = [];
  const hasParams = structMembers(code, "Params") !== null;
  if (!hasParams) {
    if (spec.params) {
      bad.push(`${spec.name}: declares params "${spec.params}" but the WGSL has no Params`);
    }
    return bad;
  }
  let s: Slot[];
  try {
    s = slots(code, "Params").slots;
  } catch (e) {
    return [`${spec.name}: ${(e as Error).message}`];
  }
  const letters = s.map((x) => x.letter).join("");
  if (letters !== (spec.params ?? "")) {
    const i = [...letters].findIndex((c, k) => c !== spec.params?.[k]);
    bad.push(
      `${spec.name}: Params types "${letters}" (WGSL) vs "${spec.params}" (TS), first difference at ` +
        `slot ${i} (${s[i]?.name ?? "end"})`,
    );
  }
  const named = spec as Partial<NamedKernelSpec>;
  if (named.layout) {
    const tsNames = named.layout.fields.map(([n]) => n);
    const wgslNames = s.map((x) => x.name);
    if (tsNames.join() !== wgslNames.join()) {
      bad.push(`${spec.name}: Params fields [${wgslNames}] (WGSL) vs [${tsNames}] (TS)`);
    }
  }
  if (named.bindings) {
    const b = bindings(code);
    const want = [...named.bindings, "p"];
    const got = b.map((x) => x.name);
    if (got.join() !== want.join() || b.some((x, i) => x.binding !== i)) {
      bad.push(
        `${spec.name}: bindings ${b.map((x) => `${x.binding}:${x.name}`)} (WGSL) vs ${
          want.map((n, i) => `${i}:${n}`)
        } (TS)`,
      );
    }
    const p = b.at(-1);
    if (p && (p.space !== "uniform" || p.type !== "Params")) {
      bad.push(
        `${spec.name}: the last binding is ${p.name}: ${p.type}, expected the Params uniform`,
      );
    }
  }
  return bad;
}

function isSpec(v: unknown): v is KernelSpec {
  const o = v as KernelSpec;
  return typeof o === "object" && o !== null && typeof o.name === "string" &&
    typeof o.source === "string" &&
    // the entry point may come from an include (kernels/_elementwise_main.wgsl)
    resolveKernelSource(o.source, o.name).code.includes("@compute");
}

/** Every KernelSpec exported by lib/ops/*.ts, and the rendered direct kernels. */
async function allSpecs(): Promise<KernelSpec[]> {
  const dir = new URL("../../lib/ops/", import.meta.url);
  const specs = new Map<string, KernelSpec>();
  for await (const e of Deno.readDir(dir)) {
    if (!e.name.endsWith(".ts")) continue;
    const mod = await import(new URL(e.name, dir).href);
    for (const v of Object.values(mod)) if (isSpec(v)) specs.set(v.name, v);
  }
  for (const { tn, tm } of DIRECT_SIZES) {
    for (
      const k of ["conv2d_direct", "conv2d_direct_backward_data", "conv2d_direct_backward_filter"]
    ) {
      const spec = directKernel(k as DirectKernelName, tn, tm);
      specs.set(spec.name, spec);
    }
  }
  return [...specs.values()].sort((a, b) => a.name < b.name ? -1 : 1);
}

Deno.test("every kernel's Params in WGSL matches the TypeScript declaration (types, order, padding)", async () => {
  const specs = await allSpecs();
  assert.ok(specs.length >= 40, `only ${specs.length} kernel specs found`);
  const bad = specs.flatMap(compare);
  assert.deepEqual(bad, [], bad.join("\n"));
});

Deno.test("migrated kernels declare their Params fields and bindings by name", async () => {
  const specs = new Map((await allSpecs()).map((s) => [s.name, s as Partial<NamedKernelSpec>]));
  for (const name of MIGRATED) {
    const s = specs.get(name);
    assert.ok(s, `no kernel spec ${name}`);
    assert.ok(s.layout && s.bindings, `${name} is not declared with defineKernel`);
  }
});

Deno.test("a swapped, retyped or missing field is reported", () => {
  const source = "struct Params { n: u32, alpha: f32, beta: f32, _pad: u32 }\n" +
    "@group(0) @binding(0) var<storage, read> x: array<f32>;\n" +
    "@group(0) @binding(1) var<storage, read_write> y: array<f32>;\n" +
    "@group(0) @binding(2) var<uniform> p: Params;\n@compute @workgroup_size(1) fn main() {}\n";
  const spec = (fields: [string, "u32" | "f32"][], b = ["x", "y"]): KernelSpec => {
    const layout = kernelParams(fields);
    return { name: "t", source, params: layout.letters, layout, bindings: b } as NamedKernelSpec;
  };
  const ok: [string, "u32" | "f32"][] = [["n", "u32"], ["alpha", "f32"], ["beta", "f32"], [
    "_pad",
    "u32",
  ]];
  assert.deepEqual(compare(spec(ok)), []);
  assert.equal(compare(spec([ok[0], ok[2], ok[1], ok[3]])).length, 1, "swapped names");
  assert.equal(compare(spec([["n", "f32"], ok[1], ok[2], ok[3]])).length, 1, "retyped");
  assert.equal(compare(spec([ok[0], ok[1], ok[2]])).length, 2, "missing padding");
  assert.equal(compare(spec(ok, ["y", "x"])).length, 1, "swapped bindings");
  assert.deepEqual(compare({ name: "t", source, params: "ufuu" }), [
    't: Params types "uffu" (WGSL) vs "ufuu" (TS), first difference at slot 2 (beta)',
  ]);
});

Deno.test("kernelParams packs an object and refuses missing, unknown and out-of-range fields", () => {
  const P = kernelParams([["n", "u32"], ["d", "i32"], ["s", "f32"], ["_p", "u32"]]);
  assert.equal(P.letters, "uifu");
  assert.deepEqual(P.pack({ n: 3, d: -2, s: 0.5 }), [3, -2, 0.5, 0]);
  assert.throws(() => P.pack({ n: 3, d: 1 } as never), /"s" \(f32\) is undefined/);
  assert.throws(() => P.pack({ n: 3, d: 1, s: 1, q: 2 } as never), /no field "q"/);
  assert.throws(() => P.pack({ n: -1, d: 1, s: 1 }), /"n" \(u32\) is -1/);
  assert.throws(() => P.pack({ n: 1, d: 1.5, s: 1 }), /"d" \(i32\) is 1.5/);
  assert.throws(() => kernelParams([["a", "u32"], ["a", "u32"]]), /declared twice/);
});
