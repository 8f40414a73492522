import { assert } from "../_assert.ts";
import { DIRECT_DIR, DIRECT_SIZES, renderAll, renderDirect } from "../../kernels/gen/mod.ts";
import { CONV2D_VARIANTS } from "../../lib/ops/conv2d_variants.ts";

const root = new URL("../../", import.meta.url);

Deno.test("every rendered kernel file matches its committed copy (deno task gen:kernels)", async () => {
  const files = renderAll();
  const bad: string[] = [];
  for (const [path, text] of files) {
    let old: string | null = null;
    try {
      old = await Deno.readTextFile(new URL(path, root));
    } catch {
      // missing
    }
    if (old !== text) bad.push(`${path}: ${old === null ? "missing" : "differs"}`);
  }
  for await (const e of Deno.readDir(new URL(`${DIRECT_DIR}/`, root))) {
    if (!files.has(`${DIRECT_DIR}/${e.name}`)) {
      bad.push(`${DIRECT_DIR}/${e.name}: rendered by nothing`);
    }
  }
  assert.deepEqual(bad, [], `run deno task gen:kernels:\n${bad.join("\n")}`);
});

Deno.test("the direct sizes rendered are exactly those the variant table selects", () => {
  const used = new Set<string>();
  for (const v of Object.values(CONV2D_VARIANTS)) {
    if (v.kind === "direct") used.add(`${v.tn}x${v.tm}`);
  }
  const rendered = new Set(DIRECT_SIZES.map((s) => `${s.tn}x${s.tm}`));
  assert.deepEqual([...rendered].sort(), [...used].sort());
});

Deno.test("a specialised rendering keeps only its own columns and channels", () => {
  const generic = renderDirect("forward", {});
  const s = renderDirect("forward", { tn: 4, tm: 8 });
  assert(generic.includes("override TN: u32") && generic.includes("if (TN > 8u)"));
  assert(s.includes("const TN: u32 = 4u;") && s.includes("const TM: u32 = 8u;"));
  assert(!/TN > |TM > /.test(s), "no size guards left");
  assert(s.includes("a3_1") && !s.includes("a4_") && !s.includes("a0_2"), "4 columns × 2 vec4");
  assert(s.length < generic.length / 2);
  for (const old of ["tools/gen_conv_direct_kernels.py", "tools/gen_conv_tiled_kernels.py"]) {
    let exists = true;
    try {
      Deno.statSync(new URL(old, root));
    } catch {
      exists = false;
    }
    assert(!exists, `${old} is replaced by kernels/gen/`);
  }
});
