/**
 * Renders the register-blocked "direct" convolution kernels (forward, input gradient, filter
 * gradient) for CPU adapters such as Mesa lavapipe.
 *
 * These kernels are written out longhand (every per-thread column and channel block unrolled, no
 * arrays indexed at run time) because that is what makes them fast on CPU adapters, where each
 * thread is one SIMD lane and every memory load is a per-lane gather: a thread computes TN output
 * columns × TM channels and reuses every loaded value TM (or TN) times from registers. The GEMM
 * operand A (weights, or the output gradient for the filter gradient) is read from a 64 KiB
 * uniform-buffer window packed by `kernels/conv2d_pack.wgsl`; B is gathered from the NCHW
 * activations. The output is accumulated over K windows by successive dispatches.
 *
 * Two renderings:
 * - **specialised** (`{ tn, tm }` given): TN and TM are constants of the file and only the
 *   columns/channels of that size are written (what `kernels/direct/` holds, one file per size the
 *   variant table selects);
 * - **generic** (`{}`): the maximal unroll (TN ≤ 16, TM ≤ 16) with every column/channel block
 *   guarded by `override TN`/`TM` (the compiler removes the unused ones). Kept to measure what the
 *   specialised files save (`bench/kernel_compile_bench.ts`).
 *
 * @module
 */

/** The per-thread block of a rendering: both given (specialised) or neither (generic). */
export interface DirectDims {
  /** Output columns per thread: 4, 8 or 16. */
  tn?: 4 | 8 | 16;
  /** Output channels per thread: 4, 8 or 16. */
  tm?: 4 | 8 | 16;
}

/** The three kernels of the direct family. */
export type DirectKernel = "forward" | "backward_data" | "backward_filter";

/** File stems of the direct kernels (`conv2d_direct`, …). */
export const DIRECT_STEMS: Readonly<Record<DirectKernel, string>> = {
  forward: "conv2d_direct",
  backward_data: "conv2d_direct_backward_data",
  backward_filter: "conv2d_direct_backward_filter",
};

const MAX_TN = 16;
const MAX_TMV = 4; // TM up to 16 channels = 4 vec4
const MAX_WIN = 4; // uniform windows read by one input-gradient dispatch
const MAX_PHASES = 4; // stride phases handled by one input-gradient dispatch

/** A guard: a WGSL condition on overrides, `null` (always true) or `false` (never: not written). */
type Guard = string | null | false;

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** The size-dependent parts of a rendering. */
class Dims {
  readonly tn: number;
  readonly tmv: number;
  readonly generic: boolean;
  constructor(d: DirectDims) {
    if ((d.tn === undefined) !== (d.tm === undefined)) {
      throw new RangeError(`conv_direct: give both tn and tm or neither, got ${JSON.stringify(d)}`);
    }
    for (const v of [d.tn, d.tm]) {
      if (v !== undefined && v !== 4 && v !== 8 && v !== 16) {
        throw new RangeError(`conv_direct: tn and tm must be 4, 8 or 16, got ${JSON.stringify(d)}`);
      }
    }
    this.generic = d.tn === undefined;
    this.tn = d.tn ?? MAX_TN;
    this.tmv = (d.tm ?? 4 * MAX_TMV) / 4;
  }
  /** Column j of a thread's block. */
  col(j: number): Guard {
    if (!this.generic) return j < this.tn ? null : false;
    return j >= 8 ? "TN > 8u" : j >= 4 ? "TN > 4u" : null;
  }
  /** Channel vec4 q of a thread's block. */
  q(q: number): Guard {
    if (!this.generic) return q < this.tmv ? null : false;
    return q >= 2 ? "TM > 8u" : q === 1 ? "TM > 4u" : null;
  }
  /** Loaded value i of a row of 3 taps (needed when i < TN + 2). */
  e(i: number): Guard {
    if (!this.generic) return i < this.tn + 2 ? null : false;
    return i >= 10 ? "TN > 8u" : i >= 6 ? "TN > 4u" : null;
  }
}

function guarded(cond: Guard, text: string, indent: string): string | null {
  if (cond === false) return null;
  if (cond === null) return text;
  return `${indent}if (${cond}) {\n${text}\n${indent}}`;
}

function join(lines: (string | null)[]): string {
  return lines.filter((l): l is string => l !== null).join("\n");
}

const PARAMS = `struct Params {
  batch: u32, cin: u32, h: u32, w: u32,
  cout: u32, oh: u32, ow: u32, kh: u32,
  kw: u32, sh: u32, sw: u32, ph: u32,
  pw: u32, dh: u32, dw: u32, k0: u32,
  k1: u32, mg: u32, m0: u32, m: u32,
  mtiles: u32, ntiles: u32, nthreads: u32, accumulate: u32,
  py: u32, px: u32, ny: u32, nx: u32,
  abase: u32, amul: u32, ams: u32, aoc: u32,
  ky0: u32, nky: u32, kx0: u32, nkx: u32,
  dy0: i32, dx0: i32, nwin: u32, kwin: u32,
}

// Element i of A: from the uniform window (uniform arrays have 16-byte elements; the compiler
// loads one lane), or with ASSB from A's own storage buffer (no window: one dispatch, for small
// problems where per-dispatch costs dominate).
fn wld(i: u32) -> f32 {
  if (ASSB) { return wts[i]; }
  return wt[i >> 2u][i & 3u];
}`;

const SIZE_GENERIC = `override TN: u32 = 8u; // output columns per thread: 4, 8 or 16
override TM: u32 = 8u; // output channels per thread: 4, 8 or 16`;

function sizeDecls(d: Dims): string {
  if (d.generic) return SIZE_GENERIC;
  return `const TN: u32 = ${d.tn}u; // output columns per thread (this file's size)
const TM: u32 = ${d.tmv * 4}u; // output channels per thread (this file's size)`;
}

function overrides(d: Dims): string {
  return sizeDecls(d) + `
override WG: u32 = 64u; // threads per workgroup
// Thread order: column blocks per workgroup (false) or channel tiles fastest (true: fills the SIMD
// lanes of CPU adapters when there are few columns, e.g. 1×1 maps).
override MFAST: bool = false;
// Lanes over channel tiles with the column thread uniform per workgroup (overrides MFAST): B is
// then read at one address per workgroup (a scalar load and broadcast on CPU adapters instead of
// a gather), A gathered — for few columns and many channels.
override MUNI: bool = false;
// Rows of 3 taps (kernel width 3, stride and dilation 1 along x): TN + 2 loads serve 3·TN taps.
override ROW3: bool = false;
// Read A from the storage binding \`wts\` instead of the uniform window \`wt\`.
override ASSB: bool = false;
// Every tap of the generic loop is inside the image (1×1 kernel, stride 1, no padding): no bounds
// checks (columns past a row end read neighbours or clamped addresses, and are never stored).
override INB: bool = false;`;
}

/**
 * Channel tile mt, column thread n and `valid` of this lane, per lane order (MUNI, MFAST or column
 * threads first); `ph` holds the column threads and tiles (`p` or a phase `P`), `ok` is an extra
 * condition of validity.
 */
function laneMap(ph: string, ok: string, mt0Note: string): string {
  return `  if (MUNI) {
    let mblocks = (p.mtiles + WG - 1u) / WG;
    n = gw / mblocks;
    let m = (gw - n * mblocks) * WG + lid;
    valid = ${ok}n < ${ph}.nthreads && m < p.mtiles;
    mt = min(m, p.mtiles - 1u);
  } else if (MFAST) {
    let gidx = gw * WG + lid;
    mt = gidx % p.mtiles;
    n = gidx / p.mtiles;
    valid = ${ok}n < ${ph}.nthreads;
  } else {
    let t = min(gw, p.mtiles * ${ph}.ntiles - 1u);
    mt = t / ${ph}.ntiles;
    n = (t - mt * ${ph}.ntiles) * WG + lid;
    valid = ${ok}n < ${ph}.nthreads && gw < p.mtiles * ${ph}.ntiles;
  }
  let mt0 = mt * TM; // channel offset within the ${mt0Note}'s channel group`;
}

const PREAMBLE = `  let gw = wg_index(wid, nwg);
  var mt: u32;
  var n: u32;
  var valid: bool;
` + laneMap("p", "", "window");

function accDecls(d: Dims): string {
  const out: string[] = [];
  for (const j of range(MAX_TN)) {
    for (const q of range(MAX_TMV)) {
      if (d.col(j) !== false && d.q(q) !== false) out.push(`  var a${j}_${q} = vec4<f32>();`);
    }
  }
  return out.join("\n");
}

function fmas(d: Dims, j: number, indent: string, vexpr: string): string {
  const lines: (string | null)[] = [`${indent}let v${j} = vec4<f32>(${vexpr});`];
  for (const q of range(MAX_TMV)) {
    const s = `a${j}_${q} = fma(w${q}, v${j}, a${j}_${q});`;
    const g = d.q(q);
    lines.push(g === false ? null : g === null ? `${indent}${s}` : `${indent}if (${g}) { ${s} }`);
  }
  return join(lines);
}

function wvec(toff: string, q: number, fn = "wld"): string {
  const comps = range(4).map((c) => `${fn}(${toff} + mo + ${4 * q + c}u * p.ams)`).join(", ");
  return `vec4<f32>(${comps})`;
}

/** A guarded declaration: `let` when unconditional, `var` + `if` under an override guard. */
function decl(g: Guard, indent: string, name: string, expr: string): string | null {
  if (g === false) return null;
  if (g === null) return `${indent}let ${name} = ${expr};`;
  return `${indent}var ${name} = vec4<f32>();\n${indent}if (${g}) { ${name} = ${expr}; }`;
}

/** A row of 3 taps: TN + 2 loaded values e_i, weights of the 3 taps, 3·TN·TM/4 vec4 FMAs. */
function row3Body(
  d: Dims,
  indent: string,
  loadExpr: (i: number) => string,
  weightBase: (kx: number) => string,
  fn = "wld",
): string {
  const L: (string | null)[] = [];
  for (const i of range(MAX_TN + 2)) {
    L.push(decl(d.e(i), indent, `e${i}`, `vec4<f32>(${loadExpr(i)})`));
  }
  for (const kx of range(3)) {
    for (const q of range(MAX_TMV)) {
      L.push(decl(d.q(q), indent, `w${kx}_${q}`, wvec(weightBase(kx), q, fn)));
    }
  }
  for (const j of range(MAX_TN)) {
    const cg = d.col(j);
    if (cg === false) continue;
    const inner: (string | null)[] = [];
    for (const kx of range(3)) {
      for (const q of range(MAX_TMV)) {
        const st = `a${j}_${q} = fma(w${kx}_${q}, e${j + kx}, a${j}_${q});`;
        const g = d.q(q);
        inner.push(
          g === false ? null : g === null ? `${indent}  ${st}` : `${indent}  if (${g}) { ${st} }`,
        );
      }
    }
    const blk = `${indent}{\n` + join(inner) + `\n${indent}}`;
    L.push(cg === null ? blk : `${indent}if (${cg}) {\n` + blk + `\n${indent}}`);
  }
  return join(L);
}

/**
 * A row of `kw` taps at stride 2 along x (forward pass): the TN columns read 2·(TN − 1) + kw
 * values e_i of the input row (column j's tap kx is e_{2j + kx}), then tap by tap the TM weights
 * and kw·TN·TM/4 vec4 FMAs — instead of TN loads per tap.
 */
function rowS2Body(
  d: Dims,
  indent: string,
  kw: number,
  loadExpr: (i: number) => string,
  weightBase: (kx: number) => string,
): string {
  const L: (string | null)[] = [];
  const need = (i: number): Guard => {
    if (!d.generic) return i < 2 * (d.tn - 1) + kw ? null : false;
    return i >= 14 + kw ? "TN > 8u" : i >= 6 + kw ? "TN > 4u" : null;
  };
  for (const i of range(2 * (MAX_TN - 1) + kw)) {
    L.push(decl(need(i), indent, `e${i}`, `vec4<f32>(${loadExpr(i)})`));
  }
  for (const kx of range(kw)) {
    const inner: (string | null)[] = [];
    for (const q of range(MAX_TMV)) {
      inner.push(decl(d.q(q), indent + "  ", `w${q}`, wvec(weightBase(kx), q)));
    }
    for (const j of range(MAX_TN)) {
      const cg = d.col(j);
      if (cg === false) continue;
      const st: (string | null)[] = [];
      for (const q of range(MAX_TMV)) {
        const f = `a${j}_${q} = fma(w${q}, e${2 * j + kx}, a${j}_${q});`;
        const g = d.q(q);
        st.push(
          g === false ? null : g === null ? `${indent}  ${f}` : `${indent}  if (${g}) { ${f} }`,
        );
      }
      inner.push(
        cg === null ? join(st) : `${indent}  if (${cg}) {\n` + join(st) + `\n${indent}  }`,
      );
    }
    L.push(`${indent}{\n` + join(inner) + `\n${indent}}`);
  }
  return join(L);
}

/** The TM weights of one tap: A(mt0 + c, k) at window offset toff + (mt0 + c)·ams. */
function wloads(d: Dims, indent: string, toff: string, fn = "wld"): string {
  return join(range(MAX_TMV).map((q) => decl(d.q(q), indent, `w${q}`, wvec(toff, q, fn))));
}

/**
 * Writes the TM channels of each of the TN columns (adding the previous value when accumulating,
 * the epilogue on the last window). A switch picks the accumulator, so no array indexed at run
 * time is needed (it would force the accumulators out of registers).
 */
function storeAll(
  d: Dims,
  indent: string,
  valid: string,
  colOk: string,
  indexExpr: string,
  channelBase: string,
): string {
  const stride = d.generic ? MAX_TMV : d.tmv;
  const cases: string[] = [];
  for (const j of range(MAX_TN)) {
    for (const q of range(MAX_TMV)) {
      if (d.col(j) === false || d.q(q) === false) continue;
      cases.push(`case ${j * stride + q}u: { v4 = a${j}_${q}; }`);
    }
  }
  return `${indent}for (var j = 0u; j < TN; j++) {
${indent}  if (!(${valid}) || !(${colOk})) { continue; }
${indent}  for (var q = 0u; q < TM / 4u; q++) {
${indent}    var v4 = vec4<f32>();
${indent}    switch (j * ${stride}u + q) { ${cases.join(" ")} default: {} }
${indent}    for (var c = 0u; c < 4u; c++) {
${indent}      let mm = q * 4u + c;
${indent}      if (mt0 + mm >= p.m) { break; }
${indent}      let o = ${indexExpr};
${indent}      var v = v4[c];
${indent}      if (p.accumulate != 0u) { v = v + y[o]; }
${indent}      if (last) { v = epilogue(v, ${channelBase} + mm); }
${indent}      y[o] = v;
${indent}    }
${indent}  }
${indent}}`;
}

const EPILOGUE_FWD_DECLS = `override BIAS: bool = false;
override AFFINE: bool = false;
override RELU: bool = false;`;

const EPILOGUE_FWD_FN = `fn epilogue(v0: f32, c: u32) -> f32 {
  var v = v0;
  if (BIAS) { v = v + bias[c]; }
  if (AFFINE) { v = fma(v, scale[c], shift[c]); }
  if (RELU) { v = max(v, 0.0); }
  return v;
}`;

const EPILOGUE_NONE = "fn epilogue(v: f32, c: u32) -> f32 { return v; }";

/** The first line of every rendered file. */
export const DIRECT_HEADER =
  "// GENERATED by tools/gen_kernels.ts (kernels/gen/conv_direct.ts) — edit the renderer, not this file.\n";

function sizeNote(d: Dims): string {
  return d.generic
    ? ""
    : `// This file: TN = ${d.tn} columns × TM = ${d.tmv * 4} channels per thread.\n`;
}

/** A column block of the generic tap loop, under its guard. */
function colBlock(d: Dims, j: number, indent: string, inner: string): string | null {
  const g = d.col(j);
  const blk = `${indent}{\n` + inner + `\n${indent}}`;
  return g === null ? blk : guarded(g, blk, indent);
}

function forward(d: Dims, header: string): string {
  const body: (string | null)[] = [];
  const A = (s: string | null) => body.push(s);
  A(
    header + sizeNote(d) +
      `// Direct 2-D convolution, forward: y[b, c, oy, ox] = Σ_k wt[k][c] · x_k(b, oy, ox) for one window
// [k0, k1) of the K = cin·kh·kw taps, accumulated into y over successive dispatches (epilogue on
// the last). A thread owns TN consecutive output columns of one row and TM channels (groups = 1).
// Thread index: workgroup t → channel tile mt = t / ntiles, column block t % ntiles.
` + overrides(d) + `
// Rows of ROWS2 (3 or 7; 0: off) taps at stride 2 and dilation 1 along x: a thread's TN columns
// load the 2·TN + ROWS2 − 2 values of an input row once for its ROWS2·TN taps.
override ROWS2: u32 = 0u;
` + EPILOGUE_FWD_DECLS + "\n\n" + PARAMS + `

@group(0) @binding(0) var<storage, read> x: array<f32>;

// B at i when ok (0 otherwise; with INB unconditionally).
fn ld_x(i: i32, ok: bool) -> f32 {
  if (INB) { return x[u32(i)]; }
  return select(0.0, x[u32(select(0, i, ok))], ok);
}
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read> shift: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> wt: array<vec4<f32>, 4096>;
@group(0) @binding(6) var<storage, read> wts: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

` + EPILOGUE_FWD_FN + `

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
` + PREAMBLE + `
  let owt = (p.ow + TN - 1u) / TN;
  let nn = min(n, p.nthreads - 1u);
  let bi = nn / (p.oh * owt);
  let r = nn - bi * p.oh * owt;
  let oy = r / owt;
  let ox0 = (r - oy * owt) * TN;
  let y0 = i32(oy * p.sh) - i32(p.ph);
  let x0 = i32(ox0 * p.sw) - i32(p.pw);
  let hw = p.h * p.w;
  let khw = p.kh * p.kw;
  let sw = i32(p.sw);
  let wi = i32(p.w);
  let hi = i32(p.h);
` + accDecls(d) + `
  let ic0 = p.k0 / khw;
  var cb = i32((bi * p.cin + ic0) * hw);
  let t0 = p.k0 - ic0 * khw;
  var ky = t0 / p.kw;
  var kx = t0 - ky * p.kw;
  let mo = mt0 * p.ams;
  var ti = (p.k0 - p.abase) * p.amul; // window offset of the current tap
  // ROW3 (3 taps per row, stride and dilation 1 along x): windows start at whole rows
  let r1 = select(p.k0, p.k1, ROW3) / 3u;
  for (var rr = p.k0 / 3u; rr < r1; rr++) {
    let iy = y0 + i32(ky * p.dh);
    let yok = iy >= 0 && iy < hi;
    let rb = cb + iy * wi;
` + row3Body(
        d,
        "    ",
        (i) =>
          `select(0.0, x[u32(select(0, rb + x0 + ${i}, yok && x0 + ${i} >= 0 && x0 + ${i} < wi))], yok && x0 + ${i} >= 0 && x0 + ${i} < wi)`,
        (kx) => `ti + ${kx}u * p.amul`,
      ) +
      `
    ti += 3u * p.amul;
    ky += 1u;
    let wrap = ky == p.kh;
    ky = select(ky, 0u, wrap);
    cb = select(cb, cb + i32(hw), wrap);
  }
` + [7, 3].map((kw) =>
        `  // ROWS2 = ${kw}: windows start at whole rows
  if (ROWS2 == ${kw}u) {
    for (var rr = p.k0 / ${kw}u; rr < p.k1 / ${kw}u; rr++) {
      let iy = y0 + i32(ky * p.dh);
      let yok = iy >= 0 && iy < hi;
      let rb = cb + iy * wi;
` + rowS2Body(
          d,
          "      ",
          kw,
          (i) =>
            `select(0.0, x[u32(select(0, rb + x0 + ${i}, yok && x0 + ${i} >= 0 && x0 + ${i} < wi))], yok && x0 + ${i} >= 0 && x0 + ${i} < wi)`,
          (kx) => `ti + ${kx}u * p.amul`,
        ) + `
      ti += ${kw}u * p.amul;
      ky += 1u;
      let wrap = ky == p.kh;
      ky = select(ky, 0u, wrap);
      cb = select(cb, cb + i32(hw), wrap);
    }
  }
`
      ).join("") + `  let k1 = select(p.k1, p.k0, ROW3 || ROWS2 != 0u);
  for (var k = p.k0; k < k1; k++) {
    let iy = y0 + i32(ky * p.dh);
    let ix = x0 + i32(kx * p.dw);
    let yok = iy >= 0 && iy < hi;
    let rb = cb + iy * wi;
` + wloads(d, "    ", "ti"),
  );
  for (const j of range(MAX_TN)) {
    const inner = `      let xx${j} = ix + ${j} * sw;\n` +
      `      let ok${j} = yok && xx${j} >= 0 && xx${j} < wi;\n` +
      fmas(d, j, "      ", `ld_x(rb + xx${j}, ok${j})`);
    A(colBlock(d, j, "    ", inner));
  }
  A(`    ti += p.amul;
    kx += 1u;
    let wrap1 = kx == p.kw;
    kx = select(kx, 0u, wrap1);
    ky = select(ky, ky + 1u, wrap1);
    let wrap2 = ky == p.kh;
    ky = select(ky, 0u, wrap2);
    cb = select(cb, cb + i32(hw), wrap2);
  }
  let last = p.k1 >= p.kh * p.kw * p.cin;
  let ohw = p.oh * p.ow;
  let cg = p.m0 + mt0;
  let ob = (bi * p.cout + cg) * ohw + oy * p.ow + ox0;`);
  A(storeAll(d, "  ", "valid", "ox0 + j < p.ow", "ob + mm * ohw + j", "cg"));
  A("}");
  return join(body) + "\n";
}

const BD_PARAMS =
  `// One stride phase (py, px): input rows iy = py + jy·sh (jy < ny), columns ix = px + jx·sw
// (jx < nx); the taps that reach the output (first, count; later ones step by the stride) and the
// output offset the first reaches; its column threads, column tiles and workgroups (workgroup i
// of the dispatch runs phase i mod nph: the phases' costs differ, and interleaving them spreads
// them over the CPU adapter's threads).
struct Phase {
  py: u32, px: u32, ny: u32, nx: u32,
  ky0: u32, nky: u32, kx0: u32, nkx: u32,
  dy0: i32, dx0: i32, nthreads: u32, ntiles: u32,
  nwg: u32, _p0: u32, _p1: u32, _p2: u32,
}

struct Params {
  batch: u32, cin: u32, h: u32, w: u32,
  cout: u32, oh: u32, ow: u32, kh: u32,
  kw: u32, sh: u32, sw: u32, ph: u32,
  pw: u32, dh: u32, dw: u32, oc0: u32,
  oc1: u32, ocw: u32, m0: u32, m: u32,
  mtiles: u32, nph: u32, nwin: u32, accumulate: u32,
  amul: u32, ams: u32, aoc: u32, _p0: u32,
  phases: array<Phase, ${MAX_PHASES}>,
}`;

/** The taps of the output channels held by window wi (read through wld{wi}). */
function bdWindow(d: Dims, wi: number): string {
  const fn = `wld${wi}`;
  // window 0 is always read: no branch around it
  const cond = wi === 0 ? null : `NWIN > ${wi}u && p.nwin > ${wi}u`;
  const L: (string | null)[] = [
    (cond === null ? "  {\n" : `  if (${cond}) {\n`) + `    let ocs = p.oc0 + ${wi}u * p.ocw;
    let noc = min(p.ocw, p.oc1 - ocs);
    var ocr = 0u;
    var iky = 0u;
    var ikx = 0u;
    var db = i32((bi * p.cout + ocs) * ohw);
    // ROW3 (kernel width 3, stride and dilation 1 along x): rows of 3 taps share TN + 2 loads
    let nrows = select(0u, noc * nky, ROW3);
    for (var rw = 0u; rw < nrows; rw++) {
      let ky = ky0 + iky * p.sh;
      let oy = i32(jy) + dy0 - i32(iky) * ddy;
      let yok = oy >= 0 && oy < oh;
      let rb = db + oy * ow;
      let ox = i32(jx0) + dx0 - 2;
      let tr = ocr * p.aoc + ky * p.kw * p.amul;
` + row3Body(
      d,
      "      ",
      (i) =>
        `select(0.0, dy[u32(select(0, rb + ox + ${i}, yok && ox + ${i} >= 0 && ox + ${i} < ow))], yok && ox + ${i} >= 0 && ox + ${i} < ow)`,
      (t) => `tr + ${2 - t}u * p.amul`,
      fn,
    ) + `
      iky += 1u;
      let wrap = iky == nky;
      iky = select(iky, 0u, wrap);
      ocr = select(ocr, ocr + 1u, wrap);
      db = select(db, db + i32(ohw), wrap);
    }
    let ntp = select(noc * nky * nkx, 0u, ROW3);
    for (var tp = 0u; tp < ntp; tp++) {
      let ky = ky0 + iky * p.sh;
      let kx = kx0 + ikx * p.sw;
      let oy = i32(jy) + dy0 - i32(iky) * ddy;
      let ox = i32(jx0) + dx0 - i32(ikx) * ddx;
      let yok = oy >= 0 && oy < oh;
      let rb = db + oy * ow;
      let ti = ocr * p.aoc + (ky * p.kw + kx) * p.amul;
` + wloads(d, "      ", "ti", fn),
  ];
  for (const j of range(MAX_TN)) {
    const inner = `        let xx${j} = ox + ${j};\n` +
      `        let ok${j} = yok && xx${j} >= 0 && xx${j} < ow;\n` +
      fmas(d, j, "        ", `ld_x(rb + xx${j}, ok${j})`);
    L.push(colBlock(d, j, "      ", inner));
  }
  L.push(`      ikx += 1u;
      let wrap1 = ikx == nkx;
      ikx = select(ikx, 0u, wrap1);
      iky = select(iky, iky + 1u, wrap1);
      let wrap2 = iky == nky;
      iky = select(iky, 0u, wrap2);
      ocr = select(ocr, ocr + 1u, wrap2);
      db = select(db, db + i32(ohw), wrap2);
    }
  }`);
  return join(L);
}

function backwardData(d: Dims, header: string): string {
  const body: (string | null)[] = [];
  const A = (s: string | null) => body.push(s);
  const wlds = range(MAX_WIN).map((w) =>
    `fn wld${w}(i: u32) -> f32 {
  if (ASSB) { return wts[i]; }
  return wt${w}[i >> 2u][i & 3u];
}`
  ).join("\n");
  const wbind = [2, 4, 5, 6].map((b, w) =>
    `@group(0) @binding(${b}) var<uniform> wt${w}: array<vec4<f32>, 4096>;`
  ).join("\n");
  A(
    header + sizeNote(d) +
      `// Direct 2-D convolution, gradient with respect to the input (a transposed convolution):
// dx[b, c, iy, ix] = Σ_{oc, ky, kx} wt[(oc, ky, kx)][c] · dy[b, oc, oy, ox] with
// oy = (iy + ph − ky·dh)/sh (when integral and in range), over the output channels [oc0, oc1)
// (accumulated into dx over successive dispatches when they do not all fit). The weights of up to
// NWIN consecutive channel chunks of ocw are read from as many uniform windows. The input is
// split by stride phase (py, px): input rows iy = py + jy·sh and columns ix = px + jx·sw, so only
// the taps that reach them are visited (requires dilation 1 where the stride is above 1); up to
// ${MAX_PHASES} phases run in one dispatch, interleaved by workgroup (the host clears the output
// when a phase no tap reaches is left out). A thread owns TN consecutive jx of one jy and TM channels (groups = 1).
` + overrides(d).replace(
        "// Read A from the storage binding `wts` instead of the uniform window `wt`.",
        "// Read A from the storage binding `wts` instead of the uniform windows `wt0`…",
      ) + `
override NWIN: u32 = 1u; // uniform windows read: 1 or ${MAX_WIN}
override NPH: u32 = 1u; // stride phases run: 1 or up to ${MAX_PHASES}

` + BD_PARAMS + `

@group(0) @binding(0) var<storage, read> dy: array<f32>;

// B at i when ok (0 otherwise; with INB unconditionally).
fn ld_x(i: i32, ok: bool) -> f32 {
  if (INB) { return dy[u32(i)]; }
  return select(0.0, dy[u32(select(0, i, ok))], ok);
}
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
` + wbind + `
@group(0) @binding(3) var<storage, read> wts: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

// Element i of A in window w: uniform arrays have 16-byte elements (the compiler loads one lane);
// with ASSB, A's own storage buffer.
` + wlds + `

` + EPILOGUE_NONE + `

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  // the phase of this workgroup (uniform), then its channel tile and column thread
  let gw0 = wg_index(wid, nwg);
  // NPH = 1 (one phase: stride 1) leaves only constant indices and no division
  let nph = select(1u, p.nph, NPH > 1u);
  let ph = gw0 % nph;
  // constant indices only: a computed index into a uniform array costs the CPU adapter a gather
  var P = p.phases[0];
  if (NPH > 1u) {
    if (ph == 1u) { P = p.phases[1]; }
    if (ph == 2u) { P = p.phases[2]; }
    if (ph == 3u) { P = p.phases[3]; }
  }
  // past the end of a smaller phase: a copy of its last workgroup that stores nothing (an early
  // return would put the CPU adapter's whole kernel under an execution mask)
  let gw = min(gw0 / nph, P.nwg - 1u);
  let wgok = gw0 / nph < P.nwg;
  var mt: u32;
  var n: u32;
  var valid: bool;
` + laneMap("P", "wgok && ", "dispatch") + `
  let nxt = (P.nx + TN - 1u) / TN;
  let nn = min(n, P.nthreads - 1u);
  let bi = nn / (P.ny * nxt);
  let r = nn - bi * P.ny * nxt;
  let jy = r / nxt;
  let jx0 = (r - jy * nxt) * TN;
  let ohw = p.oh * p.ow;
  let oh = i32(p.oh);
  let ow = i32(p.ow);
  let ky0 = P.ky0;
  let kx0 = P.kx0;
  let nky = P.nky;
  let nkx = P.nkx;
  let dy0 = P.dy0;
  let dx0 = P.dx0;
  let ddy = i32(select(p.dh, 1u, p.sh > 1u));
  let ddx = i32(select(p.dw, 1u, p.sw > 1u));
  let mo = mt0 * p.ams;
` + accDecls(d),
  );
  for (const wi of range(MAX_WIN)) A(bdWindow(d, wi));
  A(`  let last = false;
  let hw = p.h * p.w;
  let cg = p.m0 + mt0;
  let iy = P.py + jy * p.sh;
  let ob = (bi * p.cin + cg) * hw + iy * p.w + P.px + jx0 * p.sw;`);
  A(storeAll(d, "  ", "valid", "jx0 + j < P.nx", "ob + mm * hw + j * p.sw", "cg"));
  A("}");
  return join(body) + "\n";
}

/** The filter gradient's ROW3 accumulators r{j}_{kx}_{q} and sliding values s0_j, s1_j. */
function row3Decls(d: Dims): string {
  const out: string[] = [];
  for (const j of range(MAX_TN)) {
    if (d.col(j) === false) continue;
    out.push(`  var s0_${j} = 0.0;`, `  var s1_${j} = 0.0;`);
    for (const kx of range(3)) {
      for (const q of range(MAX_TMV)) {
        if (d.q(q) !== false) out.push(`  var r${j}_${kx}_${q} = vec4<f32>();`);
      }
    }
  }
  return out.join("\n");
}

/** Stores the ROW3 accumulators: column (ic0 + j, ky, kx) of channel cg + mm. */
function row3Store(d: Dims): string {
  const stride = d.generic ? MAX_TMV : d.tmv;
  const cases: string[] = [];
  for (const j of range(MAX_TN)) {
    for (const kx of range(3)) {
      for (const q of range(MAX_TMV)) {
        if (d.col(j) === false || d.q(q) === false) continue;
        cases.push(`case ${(j * 3 + kx) * stride + q}u: { v4 = r${j}_${kx}_${q}; }`);
      }
    }
  }
  return `    for (var j = 0u; j < TN; j++) {
      if (!valid || ic0 + j >= p.cin) { continue; }
      for (var kx = 0u; kx < 3u; kx++) {
        for (var q = 0u; q < TM / 4u; q++) {
          var v4 = vec4<f32>();
          switch ((j * 3u + kx) * ${stride}u + q) { ${cases.join(" ")} default: {} }
          for (var c = 0u; c < 4u; c++) {
            let mm = q * 4u + c;
            if (mt0 + mm >= p.m) { break; }
            let o = yb + (cg + mm) * ncols + (ic0 + j) * khw + tap * p.kw + kx;
            var v = v4[c];
            if (p.accumulate != 0u) { v = v + y[o]; }
            y[o] = v;
          }
        }
      }
    }`;
}

/** The filter gradient's K loop over the pixels of window wi (read through wld{wi}). */
function bfWindow(d: Dims, wi: number): string {
  const fn = `wld${wi}`;
  // window 0 is always read: no branch around it
  const cond = wi === 0 ? null : `NWIN > ${wi}u && p.nwin > ${wi}u`;
  const head = `      let sy = i32(oy * p.sh);
      let sx = i32(ox * p.sw);
`;
  const tail = `      ti += p.amul;
      ox += 1u;
      let wrap1 = ox == p.ow;
      ox = select(ox, 0u, wrap1);
      oy = select(oy, oy + 1u, wrap1);
      let wrap2 = oy == p.oh;
      oy = select(oy, 0u, wrap2);
      xb = select(xb, xb + i32(p.cin * hw), wrap2);`;
  // ICOLS: the columns share their tap, so one bounds check and one address serve them all
  const ic: (string | null)[] = [
    head + `      let iy = sy + ro0;
      let ix = sx + co0;
      let ok = iy >= 0 && iy < hi && ix >= 0 && ix < wi;
      let pb = select(0, xb + iy * wi + ix, ok);
` + wloads(d, "      ", "ti", fn),
  ];
  for (const j of range(MAX_TN)) {
    ic.push(
      colBlock(d, j, "      ", fmas(d, j, "        ", `select(0.0, x[u32(pb + off${j})], ok)`)),
    );
  }
  ic.push(tail);
  // ROW3 (with ICOLS): a thread owns the 3 taps kx of one row ky for TN channels; along a row of
  // output pixels the 3 values of a channel slide by one, so each pixel loads one new value per
  // channel (two more at a row start) for 3·TN·TM FMAs
  const r3: (string | null)[] = [
    `      let iy = i32(oy * p.sh) + ro0;
      let yok = iy >= 0 && iy < hi;
      let rb = xb + iy * wi;
      let ix = i32(ox) + co0;
      if (ox == 0u || k == kk0) {
        let ok0 = yok && ix >= 0 && ix < wi;
        let ok1 = yok && ix + 1 >= 0 && ix + 1 < wi;
        let i0 = select(0, rb + ix, ok0);
        let i1 = select(0, rb + ix + 1, ok1);`,
  ];
  for (const j of range(MAX_TN)) {
    const g = d.col(j);
    if (g === false) continue;
    const t = `        s0_${j} = select(0.0, x[u32(i0 + off${j})], ok0);\n` +
      `        s1_${j} = select(0.0, x[u32(i1 + off${j})], ok1);`;
    r3.push(g === null ? t : `        if (${g}) {\n  ${t.replace(/\n/g, "\n  ")}\n        }`);
  }
  r3.push(
    `      }
      let ok2 = yok && ix + 2 >= 0 && ix + 2 < wi;
      let i2 = select(0, rb + ix + 2, ok2);
` + wloads(d, "      ", "ti", fn),
  );
  for (const j of range(MAX_TN)) {
    const L: (string | null)[] = [
      `        let s2 = select(0.0, x[u32(i2 + off${j})], ok2);`,
      `        let e0 = vec4<f32>(s0_${j});`,
      `        let e1 = vec4<f32>(s1_${j});`,
      `        let e2 = vec4<f32>(s2);`,
    ];
    for (const kx of range(3)) {
      for (const q of range(MAX_TMV)) {
        const st = `r${j}_${kx}_${q} = fma(w${q}, e${kx}, r${j}_${kx}_${q});`;
        const g = d.q(q);
        L.push(g === false ? null : g === null ? `        ${st}` : `        if (${g}) { ${st} }`);
      }
    }
    L.push(`        s0_${j} = s1_${j};`, `        s1_${j} = s2;`);
    r3.push(colBlock(d, j, "      ", join(L)));
  }
  r3.push(tail);
  const nc: (string | null)[] = [
    head + `      let pb = xb + sy * wi + sx;
` + wloads(d, "      ", "ti", fn),
  ];
  for (const j of range(MAX_TN)) {
    const inner = `        let iy${j} = sy + ro${j};\n` +
      `        let ix${j} = sx + co${j};\n` +
      `        let ok${j} = cv${j} && iy${j} >= 0 && iy${j} < hi && ix${j} >= 0 && ix${j} < wi;\n` +
      fmas(d, j, "        ", `select(0.0, x[u32(select(0, pb + off${j}, ok${j}))], ok${j})`);
    nc.push(colBlock(d, j, "      ", inner));
  }
  nc.push(tail);
  return (cond === null ? "  {\n" : `  if (${cond}) {\n`) +
    `    let ka = kk0 + ${wi}u * p.kwin;
    let kb = min(kk1, ka + p.kwin);
    var ti = ${wi === 0 ? "(kk0 - p.abase) * p.amul" : "0u"}; // offset of pixel k in the window
    if (ROW3) {
      for (var k = ka; k < kb; k++) {
` + join(r3).replace(/^/gm, "  ") + `
      }
    } else if (ICOLS) {
      for (var k = ka; k < kb; k++) {
` + join(ic).replace(/^/gm, "  ") + `
      }
    } else {
      for (var k = ka; k < kb; k++) {
` + join(nc).replace(/^/gm, "  ") + `
      }
    }
  }`;
}

function backwardFilter(d: Dims, header: string): string {
  const body: (string | null)[] = [];
  const A = (s: string | null) => body.push(s);
  const wlds = range(MAX_WIN).map((w) =>
    `fn wld${w}(i: u32) -> f32 {
  if (ASSB) { return wts[i]; }
  return wt${w}[i >> 2u][i & 3u];
}`
  ).join("\n");
  const wbind = [2, 4, 5, 6].map((b, w) =>
    `@group(0) @binding(${b}) var<uniform> wt${w}: array<vec4<f32>, 4096>;`
  ).join("\n");
  A(
    header + sizeNote(d) + `// Direct 2-D convolution, gradient with respect to the weights:
// dw[c, n] = Σ_{pixels k} dyᵀ[k][c] · x_n(k) with n = (ic, ky, kx) and k = (b, oy, ox) in the
// range [k0, k1) of the N·OH·OW output pixels, accumulated into dw over successive dispatches
// (or split into kx0-workgroup groups of nky pixels, each into its own slice of partial sums).
// The output gradient is read from up to NWIN uniform windows of kwin consecutive pixels each
// (window w holds pixels k0 + w·kwin …), or with ASSB from its own storage buffer. A thread owns
// TN consecutive columns n and TM channels (groups = 1).
` + overrides(d).replace(
        "// Read A from the storage binding `wts` instead of the uniform window `wt`.",
        "// Read A from the storage binding `wts` instead of the uniform windows `wt0`…",
      ) +
      `
override NWIN: u32 = 1u; // uniform windows read: 1 or ${MAX_WIN}
// The TN columns of a thread are one tap (ky, kx) of TN consecutive input channels (false: TN
// consecutive columns n): one bounds check per pixel instead of one per column.
override ICOLS: bool = false;

` + PARAMS.replace(/\n\/\/ Element i of A[\s\S]*$/, "") + `

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
` + wbind + `
@group(0) @binding(3) var<storage, read> wts: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

// Element i of A in window w: uniform arrays have 16-byte elements (the compiler loads one lane);
// with ASSB, A's own storage buffer.
` + wlds + `

` + EPILOGUE_NONE + `

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  // split-K: kx0 workgroups per split, split s sums pixels [k0 + s·nky, k0 + (s + 1)·nky) into
  // its own [M, ncols] slice of y (reduced by the host's next pass when there are several)
  let gwa = wg_index(wid, nwg);
  let split = gwa / max(p.kx0, 1u);
  let gw = gwa - split * max(p.kx0, 1u);
  let kk0 = p.k0 + split * p.nky;
  let kk1 = min(p.k1, kk0 + p.nky);
  var mt: u32;
  var n: u32;
  var valid: bool;
` + laneMap("p", "", "window") + `
  let ncols = p.cin * p.kh * p.kw;
  let khw = p.kh * p.kw;
  let nt = min(n, p.nthreads - 1u);
  let c0 = nt * TN; // first column (not ICOLS)
  let per = select(khw, p.kh, ROW3); // ICOLS: threads per input channel block (taps or rows)
  let icb = nt / per; // ICOLS: input channel block and tap (ROW3: row ky) of this thread
  let tap = nt - icb * per;
  let ic0 = icb * TN;
  let hw = p.h * p.w;
  let hi = i32(p.h);
  let wi = i32(p.w);
`,
  );
  for (const j of range(MAX_TN)) {
    const g = d.col(j);
    if (g === false) continue;
    const dcl = `  var off${j} = 0;\n  var ro${j} = 0;\n  var co${j} = 0;\n  var cv${j} = false;`;
    const icInit = `    let ic = min(ic0 + ${j}u, p.cin - 1u);\n` +
      `    let ky = select(tap / p.kw, tap, ROW3);\n` +
      `    let kx = select(tap - ky * p.kw, 0u, ROW3);\n` +
      `    ro${j} = i32(ky * p.dh) - i32(p.ph);\n` +
      `    co${j} = i32(kx * p.dw) - i32(p.pw);\n` +
      `    off${j} = i32(ic * hw);\n` +
      `    cv${j} = ic0 + ${j}u < p.cin;`;
    const init = `    let cc = min(c0 + ${j}u, ncols - 1u);\n` +
      `    let ic = cc / khw;\n` +
      `    let rr = cc - ic * khw;\n` +
      `    let ky = rr / p.kw;\n` +
      `    let kx = rr - ky * p.kw;\n` +
      `    ro${j} = i32(ky * p.dh) - i32(p.ph);\n` +
      `    co${j} = i32(kx * p.dw) - i32(p.pw);\n` +
      `    off${j} = i32(ic * hw) + ro${j} * wi + co${j};\n` +
      `    cv${j} = c0 + ${j}u < ncols;`;
    A(dcl);
    const both = `    if (ICOLS) {\n${icInit.replace(/^/gm, "  ")}\n    } else {\n${
      init.replace(/^/gm, "  ")
    }\n    }`;
    A(g ? `  if (${g}) {\n${both}\n  }` : "  {\n" + both + "\n  }");
  }
  A(
    accDecls(d) + "\n" + row3Decls(d) + `
  let ohw = p.oh * p.ow;
  let b0 = kk0 / ohw;
  let r0 = kk0 - b0 * ohw;
  var oy = r0 / p.ow;
  var ox = r0 - oy * p.ow;
  var xb = i32(b0 * p.cin * hw);
  let mo = mt0 * p.ams;`,
  );
  for (const wi of range(MAX_WIN)) A(bfWindow(d, wi));
  A(`  let last = false;
  let cg = p.m0 + mt0;
  let cstride = select(1u, khw, ICOLS); // between a thread's columns
  let yb = split * p.m * ncols; // this split's slice
  let ob = yb + cg * ncols + select(c0, ic0 * khw + tap, ICOLS);`);
  A("  if (ROW3) {\n" + row3Store(d) + "\n    return;\n  }");
  A(
    storeAll(
      d,
      "  ",
      "valid",
      "select(c0 + j < ncols, ic0 + j < p.cin, ICOLS)",
      "ob + mm * ncols + j * cstride",
      "cg",
    ),
  );
  A("}");
  return join(body) + "\n";
}

/**
 * The WGSL of one direct kernel: specialised to `dims.tn` × `dims.tm`, or the generic maximal
 * unroll when `dims` is `{}`. `header` replaces the first (GENERATED) line.
 *
 * @example
 * ```ts
 * import { renderDirect } from "./conv_direct.ts";
 * const src = renderDirect("forward", { tn: 8, tm: 8 });
 * if (!src.includes("const TN: u32 = 8u;")) throw new Error("not specialised");
 * ```
 */
export function renderDirect(
  kernel: DirectKernel,
  dims: DirectDims,
  header: string = DIRECT_HEADER,
): string {
  const d = new Dims(dims);
  if (kernel === "forward") return forward(d, header);
  if (kernel === "backward_data") return backwardData(d, header);
  return backwardFilter(d, header);
}
