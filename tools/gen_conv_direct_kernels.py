#!/usr/bin/python3
"""Writes kernels/conv2d_direct*.wgsl: the register-blocked "direct" convolution kernels.

These kernels are written out longhand (every per-thread column and channel block unrolled, no
arrays indexed at run time) because that is what makes them fast on CPU adapters such as Mesa
lavapipe, where each thread is one SIMD lane and every memory load is a per-lane gather: a thread
computes TN output columns × TM channels and reuses every loaded value TM (or TN) times from
registers. The GEMM operand A (weights, or the output gradient for the filter gradient) is read
from a 64 KiB uniform-buffer window packed by kernels/conv2d_pack.wgsl; B is gathered from the
NCHW activations. Unused columns/channels are switched off by override constants (the compiler
removes them). The output is accumulated over K windows by successive dispatches.

Run from the repository root: /usr/bin/python3 tools/gen_conv_direct_kernels.py
"""
import os

OUT = os.path.join(os.path.dirname(__file__), "..", "kernels")
MAX_TN = 16
MAX_TMV = 4  # TM up to 16 channels = 4 vec4

PARAMS = """struct Params {
  batch: u32, cin: u32, h: u32, w: u32,
  cout: u32, oh: u32, ow: u32, kh: u32,
  kw: u32, sh: u32, sw: u32, ph: u32,
  pw: u32, dh: u32, dw: u32, k0: u32,
  k1: u32, mg: u32, m0: u32, m: u32,
  mtiles: u32, ntiles: u32, nthreads: u32, accumulate: u32,
  py: u32, px: u32, ny: u32, nx: u32,
  abase: u32, amul: u32, ams: u32, aoc: u32,
  ky0: u32, nky: u32, kx0: u32, nkx: u32,
  dy0: i32, dx0: i32, _p0: u32, _p1: u32,
}

// Element i of A: from the uniform window (uniform arrays have 16-byte elements; the compiler
// loads one lane), or with ASSB from A's own storage buffer (no window: one dispatch, for small
// problems where per-dispatch costs dominate).
fn wld(i: u32) -> f32 {
  if (ASSB) { return wts[i]; }
  return wt[i >> 2u][i & 3u];
}"""

OVERRIDES = """override TN: u32 = 8u; // output columns per thread: 4, 8 or 16
override TM: u32 = 8u; // output channels per thread: 4, 8 or 16
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
// Read A from the storage binding `wts` instead of the uniform window `wt`.
override ASSB: bool = false;
// Every tap of the generic loop is inside the image (1×1 kernel, stride 1, no padding): no bounds
// checks (columns past a row end read neighbours or clamped addresses, and are never stored).
override INB: bool = false;"""


def lane_map(ph, ok, mt0_note):
    """Channel tile mt, column thread n and `valid` of this lane, per lane order (MUNI, MFAST or
    column threads first); `ph` holds the column threads and tiles (`p` or a phase `P`), `ok` is an
    extra condition of validity."""
    return f"""  if (MUNI) {{
    let mblocks = (p.mtiles + WG - 1u) / WG;
    n = gw / mblocks;
    let m = (gw - n * mblocks) * WG + lid;
    valid = {ok}n < {ph}.nthreads && m < p.mtiles;
    mt = min(m, p.mtiles - 1u);
  }} else if (MFAST) {{
    let gidx = gw * WG + lid;
    mt = gidx % p.mtiles;
    n = gidx / p.mtiles;
    valid = {ok}n < {ph}.nthreads;
  }} else {{
    let t = min(gw, p.mtiles * {ph}.ntiles - 1u);
    mt = t / {ph}.ntiles;
    n = (t - mt * {ph}.ntiles) * WG + lid;
    valid = {ok}n < {ph}.nthreads && gw < p.mtiles * {ph}.ntiles;
  }}
  let mt0 = mt * TM; // channel offset within the {mt0_note}'s channel group"""


PREAMBLE = """  let gw = wg_index(wid, nwg);
  var mt: u32;
  var n: u32;
  var valid: bool;
""" + lane_map("p", "", "window")


def col_guard(j):
    return "TN > 8u" if j >= 8 else ("TN > 4u" if j >= 4 else None)


def q_guard(q):
    return "TM > 8u" if q >= 2 else ("TM > 4u" if q == 1 else None)


def guarded(cond, text, indent):
    if cond is None:
        return text
    return f"{indent}if ({cond}) {{\n{text}\n{indent}}}"


def acc_decls():
    out = []
    for j in range(MAX_TN):
        for q in range(MAX_TMV):
            out.append(f"  var a{j}_{q} = vec4<f32>();")
    return "\n".join(out)


def fmas(j, indent, vexpr):
    lines = [f"{indent}let v{j} = vec4<f32>({vexpr});"]
    for q in range(MAX_TMV):
        s = f"a{j}_{q} = fma(w{q}, v{j}, a{j}_{q});"
        g = q_guard(q)
        lines.append(f"{indent}{s}" if g is None else f"{indent}if ({g}) {{ {s} }}")
    return "\n".join(lines)


def e_guard(i):
    # value i of a row is needed when i < TN + 2
    return "TN > 8u" if i >= 10 else ("TN > 4u" if i >= 6 else None)


def row3_body(indent, load_expr, weight_base, fn="wld"):
    """A row of 3 taps: TN + 2 loaded values e_i, weights of the 3 taps, 3·TN·TM/4 vec4 FMAs."""
    L = []
    for i in range(MAX_TN + 2):
        g = e_guard(i)
        if g is None:
            L.append(f"{indent}let e{i} = vec4<f32>({load_expr(i)});")
        else:
            L.append(f"{indent}var e{i} = vec4<f32>();")
            L.append(f"{indent}if ({g}) {{ e{i} = vec4<f32>({load_expr(i)}); }}")
    for kx in range(3):
        for q in range(MAX_TMV):
            g = q_guard(q)
            expr = wvec(weight_base(kx), q, fn)
            if g is None:
                L.append(f"{indent}let w{kx}_{q} = {expr};")
            else:
                L.append(f"{indent}var w{kx}_{q} = vec4<f32>();")
                L.append(f"{indent}if ({g}) {{ w{kx}_{q} = {expr}; }}")
    for j in range(MAX_TN):
        cg = col_guard(j)
        inner = []
        for kx in range(3):
            for q in range(MAX_TMV):
                st = f"a{j}_{q} = fma(w{kx}_{q}, e{j + kx}, a{j}_{q});"
                g = q_guard(q)
                inner.append(f"{indent}  {st}" if g is None else f"{indent}  if ({g}) {{ {st} }}")
        blk = f"{indent}{{\n" + "\n".join(inner) + f"\n{indent}}}"
        L.append(blk if cg is None else f"{indent}if ({cg}) {{\n" + blk + f"\n{indent}}}")
    return "\n".join(L)


def wvec(toff, q, fn="wld"):
    comps = ", ".join(f"{fn}({toff} + mo + {4 * q + c}u * p.ams)" for c in range(4))
    return f"vec4<f32>({comps})"


def wloads(indent, toff, fn="wld"):
    """The TM weights of one tap: A(mt0 + c, k) at window offset toff + (mt0 + c)·ams."""
    lines = []
    for q in range(MAX_TMV):
        g = q_guard(q)
        if g is None:
            lines.append(f"{indent}let w{q} = {wvec(toff, q, fn)};")
        else:
            lines.append(f"{indent}var w{q} = vec4<f32>();")
            lines.append(f"{indent}if ({g}) {{ w{q} = {wvec(toff, q, fn)}; }}")
    return "\n".join(lines)


def store_all(indent, valid, col_ok, index_expr, channel_base):
    """Writes the TM channels of each of the TN columns (adding the previous value when
    accumulating, the epilogue on the last window). A switch picks the accumulator, so no array
    indexed at run time is needed (it would force the accumulators out of registers)."""
    cases = " ".join(f"case {j * MAX_TMV + q}u: {{ v4 = a{j}_{q}; }}" for j in range(MAX_TN) for q in range(MAX_TMV))
    return f"""{indent}for (var j = 0u; j < TN; j++) {{
{indent}  if (!({valid}) || !({col_ok})) {{ continue; }}
{indent}  for (var q = 0u; q < TM / 4u; q++) {{
{indent}    var v4 = vec4<f32>();
{indent}    switch (j * {MAX_TMV}u + q) {{ {cases} default: {{}} }}
{indent}    for (var c = 0u; c < 4u; c++) {{
{indent}      let mm = q * 4u + c;
{indent}      if (mt0 + mm >= p.m) {{ break; }}
{indent}      let o = {index_expr};
{indent}      var v = v4[c];
{indent}      if (p.accumulate != 0u) {{ v = v + y[o]; }}
{indent}      if (last) {{ v = epilogue(v, {channel_base} + mm); }}
{indent}      y[o] = v;
{indent}    }}
{indent}  }}
{indent}}}"""


EPILOGUE_FWD = """override BIAS: bool = false;
override AFFINE: bool = false;
override RELU: bool = false;

fn epilogue(v0: f32, c: u32) -> f32 {
  var v = v0;
  if (BIAS) { v = v + bias[c]; }
  if (AFFINE) { v = fma(v, scale[c], shift[c]); }
  if (RELU) { v = max(v, 0.0); }
  return v;
}"""

EPILOGUE_NONE = """fn epilogue(v: f32, c: u32) -> f32 { return v; }"""

HEADER = "// GENERATED by tools/gen_conv_direct_kernels.py — edit the generator, not this file.\n"


def forward():
    body = []
    A = body.append
    A(HEADER + """// Direct 2-D convolution, forward: y[b, c, oy, ox] = Σ_k wt[k][c] · x_k(b, oy, ox) for one window
// [k0, k1) of the K = cin·kh·kw taps, accumulated into y over successive dispatches (epilogue on
// the last). A thread owns TN consecutive output columns of one row and TM channels (groups = 1).
// Thread index: workgroup t → channel tile mt = t / ntiles, column block t % ntiles.
""" + OVERRIDES + "\n" + EPILOGUE_FWD.split("\n\nfn")[0] + "\n\n" + PARAMS + """

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

fn""" + EPILOGUE_FWD.split("\n\nfn")[1] + """

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
""" + PREAMBLE + """
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
""" + acc_decls() + """
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
""" + row3_body("    ", lambda i: f"select(0.0, x[u32(select(0, rb + x0 + {i}, yok && x0 + {i} >= 0 && x0 + {i} < wi))], yok && x0 + {i} >= 0 && x0 + {i} < wi)",
                lambda kx: f"ti + {kx}u * p.amul") + """
    ti += 3u * p.amul;
    ky += 1u;
    let wrap = ky == p.kh;
    ky = select(ky, 0u, wrap);
    cb = select(cb, cb + i32(hw), wrap);
  }
  let k1 = select(p.k1, p.k0, ROW3);
  for (var k = p.k0; k < k1; k++) {
    let iy = y0 + i32(ky * p.dh);
    let ix = x0 + i32(kx * p.dw);
    let yok = iy >= 0 && iy < hi;
    let rb = cb + iy * wi;
""" + wloads("    ", "ti"))
    for j in range(MAX_TN):
        inner = (f"      let xx{j} = ix + {j} * sw;\n"
                 f"      let ok{j} = yok && xx{j} >= 0 && xx{j} < wi;\n" +
                 fmas(j, "      ", f"ld_x(rb + xx{j}, ok{j})"))
        g = col_guard(j)
        A(guarded(g, "    {\n" + inner + "\n    }", "    ") if g else "    {\n" + inner + "\n    }")
    A("""    ti += p.amul;
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
  let ob = (bi * p.cout + cg) * ohw + oy * p.ow + ox0;""")
    A(store_all("  ", "valid", "ox0 + j < p.ow", "ob + mm * ohw + j", "cg"))
    A("}")
    return "\n".join(body) + "\n"


MAX_WIN = 4  # uniform windows read by one input-gradient dispatch
MAX_PHASES = 4  # stride phases handled by one input-gradient dispatch

BD_PARAMS = """// One stride phase (py, px): input rows iy = py + jy·sh (jy < ny), columns ix = px + jx·sw
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
  phases: array<Phase, %d>,
}""" % MAX_PHASES


def bd_window(wi):
    """The taps of the output channels held by window wi (read through wld{wi})."""
    fn = f"wld{wi}"
    # window 0 is always read: no branch around it
    cond = None if wi == 0 else f"NWIN > {wi}u && p.nwin > {wi}u"
    L = [("  {\n" if cond is None else f"  if ({cond}) {{\n") + f"""    let ocs = p.oc0 + {wi}u * p.ocw;
    let noc = min(p.ocw, p.oc1 - ocs);
    var ocr = 0u;
    var iky = 0u;
    var ikx = 0u;
    var db = i32((bi * p.cout + ocs) * ohw);
    // ROW3 (kernel width 3, stride and dilation 1 along x): rows of 3 taps share TN + 2 loads
    let nrows = select(0u, noc * nky, ROW3);
    for (var rw = 0u; rw < nrows; rw++) {{
      let ky = ky0 + iky * p.sh;
      let oy = i32(jy) + dy0 - i32(iky) * ddy;
      let yok = oy >= 0 && oy < oh;
      let rb = db + oy * ow;
      let ox = i32(jx0) + dx0 - 2;
      let tr = ocr * p.aoc + ky * p.kw * p.amul;
""" + row3_body("      ", lambda i: f"select(0.0, dy[u32(select(0, rb + ox + {i}, yok && ox + {i} >= 0 && ox + {i} < ow))], yok && ox + {i} >= 0 && ox + {i} < ow)",
                lambda t: f"tr + {2 - t}u * p.amul", fn) + """
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
""" + wloads("      ", "ti", fn)]
    for j in range(MAX_TN):
        inner = (f"        let xx{j} = ox + {j};\n"
                 f"        let ok{j} = yok && xx{j} >= 0 && xx{j} < ow;\n" +
                 fmas(j, "        ", f"ld_x(rb + xx{j}, ok{j})"))
        g = col_guard(j)
        L.append(guarded(g, "      {\n" + inner + "\n      }", "      ") if g else "      {\n" + inner + "\n      }")
    L.append("""      ikx += 1u;
      let wrap1 = ikx == nkx;
      ikx = select(ikx, 0u, wrap1);
      iky = select(iky, iky + 1u, wrap1);
      let wrap2 = iky == nky;
      iky = select(iky, 0u, wrap2);
      ocr = select(ocr, ocr + 1u, wrap2);
      db = select(db, db + i32(ohw), wrap2);
    }
  }""")
    return "\n".join(L)


def backward_data():
    body = []
    A = body.append
    wlds = "\n".join(
        f"""fn wld{w}(i: u32) -> f32 {{
  if (ASSB) {{ return wts[i]; }}
  return wt{w}[i >> 2u][i & 3u];
}}""" for w in range(MAX_WIN))
    wbind = "\n".join(
        f"@group(0) @binding({b}) var<uniform> wt{w}: array<vec4<f32>, 4096>;"
        for w, b in zip(range(MAX_WIN), [2, 4, 5, 6]))
    A(HEADER + """// Direct 2-D convolution, gradient with respect to the input (a transposed convolution):
// dx[b, c, iy, ix] = Σ_{oc, ky, kx} wt[(oc, ky, kx)][c] · dy[b, oc, oy, ox] with
// oy = (iy + ph − ky·dh)/sh (when integral and in range), over the output channels [oc0, oc1)
// (accumulated into dx over successive dispatches when they do not all fit). The weights of up to
// NWIN consecutive channel chunks of ocw are read from as many uniform windows. The input is
// split by stride phase (py, px): input rows iy = py + jy·sh and columns ix = px + jx·sw, so only
// the taps that reach them are visited (requires dilation 1 where the stride is above 1); up to
// """ + str(MAX_PHASES) + """ phases run in one dispatch, interleaved by workgroup (the host clears the output
// when a phase no tap reaches is left out). A thread owns TN consecutive jx of one jy and TM channels (groups = 1).
""" + OVERRIDES.replace("// Read A from the storage binding `wts` instead of the uniform window `wt`.",
                        "// Read A from the storage binding `wts` instead of the uniform windows `wt0`…") + """
override NWIN: u32 = 1u; // uniform windows read: 1 or """ + str(MAX_WIN) + """
override NPH: u32 = 1u; // stride phases run: 1 or up to """ + str(MAX_PHASES) + """

""" + BD_PARAMS + """

@group(0) @binding(0) var<storage, read> dy: array<f32>;

// B at i when ok (0 otherwise; with INB unconditionally).
fn ld_x(i: i32, ok: bool) -> f32 {
  if (INB) { return dy[u32(i)]; }
  return select(0.0, dy[u32(select(0, i, ok))], ok);
}
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
""" + wbind + """
@group(0) @binding(3) var<storage, read> wts: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

// Element i of A in window w: uniform arrays have 16-byte elements (the compiler loads one lane);
// with ASSB, A's own storage buffer.
""" + wlds + """

""" + EPILOGUE_NONE + """

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
""" + lane_map("P", "wgok && ", "dispatch") + """
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
""" + acc_decls())
    for wi in range(MAX_WIN):
        A(bd_window(wi))
    A("""  let last = false;
  let hw = p.h * p.w;
  let cg = p.m0 + mt0;
  let iy = P.py + jy * p.sh;
  let ob = (bi * p.cin + cg) * hw + iy * p.w + P.px + jx0 * p.sw;""")
    A(store_all("  ", "valid", "jx0 + j < P.nx", "ob + mm * hw + j * p.sw", "cg"))
    A("}")
    return "\n".join(body) + "\n"


def backward_filter():
    body = []
    A = body.append
    A(HEADER + """// Direct 2-D convolution, gradient with respect to the weights:
// dw[c, n] = Σ_{pixels k} dyᵀ[k][c] · x_n(k) with n = (ic, ky, kx) and k = (b, oy, ox) in the
// window [k0, k1) of the N·OH·OW output pixels, accumulated into dw over successive dispatches.
// The window holds the output gradient transposed to [pixel][channel]. A thread owns TN
// consecutive columns n and TM channels (groups = 1).
""" + OVERRIDES + "\n\n" + PARAMS + """

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> wt: array<vec4<f32>, 4096>;
@group(0) @binding(3) var<storage, read> wts: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

""" + EPILOGUE_NONE + """

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
""" + PREAMBLE + """
  let ncols = p.cin * p.kh * p.kw;
  let c0 = min(n, p.nthreads - 1u) * TN;
  let khw = p.kh * p.kw;
  let hw = p.h * p.w;
  let hi = i32(p.h);
  let wi = i32(p.w);
""")
    for j in range(MAX_TN):
        g = col_guard(j)
        decl = (f"  var off{j} = 0;\n  var ro{j} = 0;\n  var co{j} = 0;\n  var cv{j} = false;")
        init = (f"    let cc = min(c0 + {j}u, ncols - 1u);\n"
                f"    let ic = cc / khw;\n"
                f"    let rr = cc - ic * khw;\n"
                f"    let ky = rr / p.kw;\n"
                f"    let kx = rr - ky * p.kw;\n"
                f"    ro{j} = i32(ky * p.dh) - i32(p.ph);\n"
                f"    co{j} = i32(kx * p.dw) - i32(p.pw);\n"
                f"    off{j} = i32(ic * hw) + ro{j} * wi + co{j};\n"
                f"    cv{j} = c0 + {j}u < ncols;")
        A(decl)
        A(f"  if ({g}) {{\n{init}\n  }}" if g else "  {\n" + init + "\n  }")
    A(acc_decls() + """
  let ohw = p.oh * p.ow;
  let b0 = p.k0 / ohw;
  let r0 = p.k0 - b0 * ohw;
  var oy = r0 / p.ow;
  var ox = r0 - oy * p.ow;
  var xb = i32(b0 * p.cin * hw);
  let mo = mt0 * p.ams;
  var ti = (p.k0 - p.abase) * p.amul;
  for (var k = p.k0; k < p.k1; k++) {
    let sy = i32(oy * p.sh);
    let sx = i32(ox * p.sw);
    let pb = xb + sy * wi + sx;
""" + wloads("    ", "ti"))
    for j in range(MAX_TN):
        inner = (f"      let iy{j} = sy + ro{j};\n"
                 f"      let ix{j} = sx + co{j};\n"
                 f"      let ok{j} = cv{j} && iy{j} >= 0 && iy{j} < hi && ix{j} >= 0 && ix{j} < wi;\n" +
                 fmas(j, "      ", f"select(0.0, x[u32(select(0, pb + off{j}, ok{j}))], ok{j})"))
        g = col_guard(j)
        A(guarded(g, "    {\n" + inner + "\n    }", "    ") if g else "    {\n" + inner + "\n    }")
    A("""    ti += p.amul;
    ox += 1u;
    let wrap1 = ox == p.ow;
    ox = select(ox, 0u, wrap1);
    oy = select(oy, oy + 1u, wrap1);
    let wrap2 = oy == p.oh;
    oy = select(oy, 0u, wrap2);
    xb = select(xb, xb + i32(p.cin * hw), wrap2);
  }
  let last = false;
  let cg = p.m0 + mt0;
  let ob = cg * ncols + c0;""")
    A(store_all("  ", "valid", "c0 + j < ncols", "ob + mm * ncols + j", "cg"))
    A("}")
    return "\n".join(body) + "\n"


def main():
    files = {
        "conv2d_direct.wgsl": forward(),
        "conv2d_direct_backward_data.wgsl": backward_data(),
        "conv2d_direct_backward_filter.wgsl": backward_filter(),
    }
    for name, text in files.items():
        with open(os.path.join(OUT, name), "w") as f:
            f.write(text)
        print(f"kernels/{name}: {text.count(chr(10))} lines")


if __name__ == "__main__":
    main()
