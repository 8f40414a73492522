/**
 * `deno task get-flops CONFIG [--shape H W]`: parameters and FLOPs of the detector, in total and by
 * module, as mmdetection's `tools/analysis_tools/get_flops.py` (mmcv's counting: one FLOP per
 * multiply-add of Conv2d, `kh·kw·cin/groups·cout` per output position plus `cout` for a bias;
 * BatchNorm/GroupNorm: elements, ×2 with affine; ReLU (fused or not): output elements;
 * MaxPool: input elements). The model's backbone, neck and head run once on a zero image of
 * `[1, 3, H, W]` to get every layer's shapes (on the WebGPU adapter).
 */
import { int, loadToolConfig, runTool, toolArgs } from "./_common.ts";
import { buildModel } from "../../lib/apis/common.ts";
import { Tensor, tidy } from "../../lib/autograd/tensor.ts";
import { initGpu } from "../../lib/gpu/runtime.ts";
import { Conv2d } from "../../lib/nn/conv.ts";
import { setConvBnFusion } from "../../lib/nn/conv_bn.ts";
import { BatchNorm2d, GroupNorm } from "../../lib/nn/norm.ts";
import { MaxPool2d, ReLU } from "../../lib/nn/layers.ts";
import type { Module } from "../../lib/nn/module.ts";
import { ConfigError } from "../../lib/utils/errors.ts";

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** FLOPs of one call of a leaf module, mmcv's rules. */
function leafFlops(m: Module, x: Tensor, y: Tensor, act: unknown): number {
  const relu = act === "relu" ? numel(y.shape) : 0;
  if (m instanceof Conv2d) {
    const [kh, kw] = m.kernelSize;
    const [, , oh, ow] = y.shape;
    const positions = y.shape[0] * oh * ow;
    const bias = m.optionalParam("bias") ? m.outChannels * positions : 0;
    return kh * kw * (m.inChannels / m.groups) * m.outChannels * positions + bias + relu;
  }
  if (m instanceof BatchNorm2d || m instanceof GroupNorm) {
    const affine = m.optionalParam("weight") ? 2 : 1;
    return numel(x.shape) * affine + relu;
  }
  if (m instanceof ReLU) return numel(y.shape);
  if (m instanceof MaxPool2d) return numel(x.shape);
  return 0;
}

function human(n: number, unit: string): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G${unit}`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M${unit}`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(2)} K${unit}`;
  return `${n} ${unit}`;
}

const HELP = `Usage: deno task get-flops [options] <config>

Parameters and FLOPs of a detector, by module

Arguments:
  config                        config file

Options:
  --shape <size...>             input image size: H W, or one number for a square (default 1280 800)
  --depth <int>                 module depth of the table (default: 2)
  --cfg-options <key=value...>  override config keys
  -h, --help                    print this help and exit`;

await runTool(async () => {
  const { values: v, positionals } = await toolArgs({
    usage: HELP,
    options: {
      shape: { type: "string", variadic: true },
      depth: { type: "string", default: "2" },
      "cfg-options": { type: "string", variadic: true },
    },
  }, ["config"]);
  const [config] = positionals;
  const o = { shape: v.shape, depth: int("depth", v.depth), cfgOptions: v["cfg-options"] };
  const shape = (o.shape ?? ["1280", "800"]).map((s: string) => int("shape", s));
  if (shape.length < 1 || shape.length > 2) {
    throw new ConfigError(`Invalid --shape ${o.shape?.join(" ")}: give H W or one size`);
  }
  const [h, w] = shape.length === 1 ? [shape[0], shape[0]] : shape;
  const cfg = await loadToolConfig(config, o.cfgOptions);
  await initGpu();
  const det = buildModel(cfg, 0);
  const flopsBy = new Map<string, number>();
  const modules = det.namedModules();
  for (const [name, m] of modules) {
    if (
      !(m instanceof Conv2d || m instanceof BatchNorm2d || m instanceof GroupNorm ||
        m instanceof ReLU || m instanceof MaxPool2d)
    ) continue;
    const orig = (m as unknown as { forward: (...a: unknown[]) => Tensor }).forward;
    (m as unknown as { forward: (...a: unknown[]) => Tensor }).forward = (...args: unknown[]) => {
      const y = orig.apply(m, args);
      flopsBy.set(name, (flopsBy.get(name) ?? 0) + leafFlops(m, args[0] as Tensor, y, args[1]));
      return y;
    };
  }
  det.eval();
  const img = Tensor.from(new Float32Array(3 * h * w), [1, 3, h, w], { label: "img" });
  const d = det as unknown as {
    extractFeat(x: Tensor): Tensor[];
    bboxHead?: { forward(f: Tensor[]): unknown };
    rpnHead?: { forward(f: Tensor[]): unknown };
  };
  // mmcv counts per module (conv, then bn): run the modules one by one, not the eval-mode
  // conv+BN folding that inference uses (the same arithmetic in fewer dispatches)
  const fold = setConvBnFusion(false);
  try {
    tidy(() => {
      const feats = d.extractFeat(img);
      (d.bboxHead ?? d.rpnHead)?.forward(feats);
      return [] as Tensor[];
    });
  } finally {
    setConvBnFusion(fold);
  }
  img.dispose();
  const params = new Map<string, number>();
  for (const [name, t] of det.namedParameters()) params.set(name, numel(t.shape));
  const totalFlops = [...flopsBy.values()].reduce((a, b) => a + b, 0);
  const totalParams = [...params.values()].reduce((a, b) => a + b, 0);
  // the table: modules down to --depth, with their share
  const group = (name: string) => name.split(".").slice(0, o.depth).join(".");
  const rows = new Map<string, { params: number; flops: number }>();
  for (const [n, p] of params) {
    const g = group(n.replace(/\.(weight|bias|running_mean|running_var)$/, ""));
    const r = rows.get(g) ?? { params: 0, flops: 0 };
    r.params += p;
    rows.set(g, r);
  }
  for (const [n, f] of flopsBy) {
    const g = group(n);
    const r = rows.get(g) ?? { params: 0, flops: 0 };
    r.flops += f;
    rows.set(g, r);
  }
  const nameW = Math.max(12, ...[...rows.keys()].map((k) => k.length)) + 2;
  console.log(
    `${"module".padEnd(nameW)}${"params".padStart(14)}${"%".padStart(8)}${"FLOPs".padStart(16)}${
      "%".padStart(8)
    }`,
  );
  for (const [k, r] of [...rows].sort((a, b) => a[0].localeCompare(b[0]))) {
    console.log(
      `${k.padEnd(nameW)}${human(r.params, "").padStart(14)}${
        (100 * r.params / (totalParams || 1)).toFixed(2).padStart(8)
      }${human(r.flops, "FLOPs").padStart(16)}${
        (100 * r.flops / (totalFlops || 1)).toFixed(2).padStart(8)
      }`,
    );
  }
  const split = "=".repeat(30);
  console.log(
    `${split}\nInput shape: (3, ${h}, ${w})\nFlops: ${
      human(totalFlops, "FLOPs")
    } (${totalFlops})\nParams: ${human(totalParams, "")} (${totalParams})\n${split}`,
  );
  console.log(
    "!!!Please be cautious if you use the results in papers. You may need to check if all ops are supported and verify that the flops computation is correct.",
  );
  det.dispose();
});
