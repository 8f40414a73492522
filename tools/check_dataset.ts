/**
 * `deno task check-dataset CONFIG [--cfg-options k=v ...] [--splits train,val,test]`: loads each
 * dataset split of a config and reports images and objects per class, objects skipped by
 * reason, missing or unreadable images, and a histogram of box sizes (sqrt(w·h) after the
 * pipeline's Resize) against the anchor range of the model. Exit code 0 when every split loads
 * with all its images, 1 otherwise (usable in CI), 2 for bad usage.
 *
 * @module
 */
import { parseCli, usageError } from "./_args.ts";
import { applyCfgOptions, type Config, isDict, loadConfig } from "../lib/config/mod.ts";
import { buildDataset } from "../lib/datasets/dataset_wrappers.ts";
import "../lib/datasets/mod.ts";
import { checkImageFile } from "../lib/datasets/image_io.ts";
import { joinPrefix } from "../lib/datasets/pipelines/loading.ts";
import type { CustomDataset } from "../lib/datasets/custom.ts";
import type { TypedCfg } from "../lib/utils/registry.ts";

const HELP = `Usage: deno task check-dataset CONFIG [options]

Loads the dataset splits of CONFIG and reports, per split: images and objects per class,
objects skipped by reason, missing or unreadable images, and a histogram of box sizes
(sqrt(w*h) at the network input scale) against the model's anchor range.

Options:
  --splits LIST           comma-separated splits to check (default: train,val,test)
  --cfg-options K=V ...   override config keys
  --allow-remote-config   allow configs that run code from a URL (see README: Security)
  -h, --help              print this help

Exit code: 0 all splits load with all their images, 1 a split fails or has bad images, 2 usage.`;

/** Leaf datasets of a (possibly wrapped) dataset. */
function leaves(ds: unknown): CustomDataset[] {
  const d = ds as { datasets?: unknown[]; dataset?: unknown };
  if (Array.isArray(d.datasets)) return d.datasets.flatMap(leaves);
  if (d.dataset) return leaves(d.dataset);
  return [ds as CustomDataset];
}

/** The anchor side range [min, max] of `model.bbox_head.anchor_generator` (or rpn_head). */
export function anchorRange(cfg: Config): [number, number] | null {
  const model = cfg.dict.model;
  if (!isDict(model)) return null;
  const head = (isDict(model.bbox_head) ? model.bbox_head : model.rpn_head) as
    | Record<string, unknown>
    | undefined;
  const ag = head && isDict(head.anchor_generator)
    ? head.anchor_generator as Record<string, unknown>
    : null;
  if (!ag || !Array.isArray(ag.strides)) return null;
  const strides = (ag.strides as unknown[]).map((s) => Array.isArray(s) ? Number(s[0]) : Number(s));
  let scales: number[];
  if (Array.isArray(ag.scales)) scales = (ag.scales as number[]).map(Number);
  else {
    const base = Number(ag.octave_base_scale ?? 4), per = Number(ag.scales_per_octave ?? 1);
    scales = Array.from({ length: per }, (_, i) => base * 2 ** (i / per));
  }
  return [Math.min(...strides) * Math.min(...scales), Math.max(...strides) * Math.max(...scales)];
}

/** The scale factor the first `Resize` of `pipeline` applies to a w×h image (1 without one). */
function resizeScale(pipeline: unknown, w: number, h: number): number {
  if (!Array.isArray(pipeline)) return 1;
  for (const t of pipeline) {
    if (!isDict(t)) continue;
    if (t.type === "MultiScaleFlipAug") return resizeScale([{ ...t, type: "Resize" }], w, h);
    if (t.type !== "Resize") continue;
    const s = t.img_scale;
    const scale = Array.isArray(s) && Array.isArray(s[0]) ? s[0] : s;
    if (!Array.isArray(scale)) return 1;
    const [a, b] = scale.map(Number);
    if (t.keep_ratio === false) return Math.sqrt((a / w) * (b / h));
    return Math.min(Math.max(a, b) / Math.max(w, h), Math.min(a, b) / Math.min(w, h));
  }
  return 1;
}

/** Checks the splits; returns the report lines and whether every split passed. */
export async function checkDataset(
  cfg: Config,
  splits: string[],
): Promise<{ lines: string[]; ok: boolean }> {
  const lines: string[] = [];
  let ok = true;
  const data = cfg.dict.data;
  if (!isDict(data)) {
    return { lines: [`Config "${cfg.filename}" has no "data" section`], ok: false };
  }
  const range = anchorRange(cfg);
  for (const split of splits) {
    const d = data[split];
    if (!isDict(d) && !Array.isArray(d)) {
      lines.push(`[${split}] not in the config`);
      continue;
    }
    const list = (Array.isArray(d) ? d : [d]) as TypedCfg[];
    let ds: unknown;
    try {
      ds = buildDataset(list.length === 1 ? list[0] : list, {
        test_mode: split !== "train",
        quiet: true,
        check_images: false,
      });
    } catch (e) {
      lines.push(`[${split}] FAILED to load: ${(e as Error).message}`);
      ok = false;
      continue;
    }
    const sets = leaves(ds);
    const classes = sets[0]?.CLASSES ?? [];
    const perClass = new Array(classes.length).fill(0),
      perClassIgn = new Array(classes.length).fill(0);
    const skipped: Record<string, number> = {};
    const missing: string[] = [];
    let images = 0;
    const hist = new Map<number, number>();
    let below = 0, above = 0, boxes = 0;
    for (const s of sets) {
      for (const [k, v] of Object.entries(s.skipped)) skipped[k] = (skipped[k] ?? 0) + v;
      const pipeline = (s.cfg.pipeline ?? []) as unknown;
      for (let i = 0; i < s.length; i++) {
        images++;
        const info = s.dataInfos[i];
        try {
          checkImageFile(joinPrefix(s.imgPrefix, info.filename), { maxPixels: s.cfg.max_pixels });
        } catch (e) {
          missing.push((e as Error).message);
        }
        const a = s.getAnnInfo(i);
        for (const l of a.labels) perClass[l]++;
        for (const l of a.labels_ignore) perClassIgn[l]++;
        const f = resizeScale(pipeline, info.width, info.height);
        for (let j = 0; j < a.labels.length; j++) {
          const [x1, y1, x2, y2] = a.bboxes.subarray(j * 4, j * 4 + 4);
          const side = Math.sqrt(Math.max(0, x2 - x1) * Math.max(0, y2 - y1)) * f;
          const bin = side <= 0 ? 0 : Math.max(0, Math.floor(Math.log2(side)));
          hist.set(bin, (hist.get(bin) ?? 0) + 1);
          boxes++;
          if (range && side < range[0] / 2) below++;
          if (range && side > range[1] * 2) above++;
        }
      }
    }
    lines.push(
      `[${split}] ${images} images, ${perClass.reduce((x, y) => x + y, 0)} objects (+${
        perClassIgn.reduce((x, y) => x + y, 0)
      } ignored)`,
    );
    classes.forEach((c, k) =>
      lines.push(`  ${c.padEnd(20)} ${perClass[k]} (+${perClassIgn[k]} ignored)`)
    );
    const sk = Object.entries(skipped);
    lines.push(`  skipped: ${sk.length ? sk.map(([k, v]) => `${k} ${v}`).join(", ") : "none"}`);
    if (missing.length) {
      ok = false;
      lines.push(`  missing or unreadable images: ${missing.length}`);
      for (const m of missing.slice(0, 10)) lines.push(`    ${m}`);
      if (missing.length > 10) lines.push(`    ... and ${missing.length - 10} more`);
    } else lines.push("  images: all present and readable");
    if (boxes > 0) {
      lines.push(
        `  box size sqrt(w*h) at input scale${
          range ? `, anchors cover ${range[0].toFixed(0)}..${range[1].toFixed(0)} px` : ""
        }:`,
      );
      for (const bin of [...hist.keys()].sort((x, y) => x - y)) {
        const lo = bin === 0 ? 0 : 2 ** bin, n = hist.get(bin)!;
        lines.push(
          `    ${String(lo).padStart(5)}..${String(2 ** (bin + 1)).padEnd(5)} ${
            String(n).padStart(6)
          } ${"#".repeat(Math.ceil((40 * n) / boxes))}`,
        );
      }
      if (range) {
        lines.push(
          `  ${below} boxes below half the smallest anchor, ${above} above twice the largest`,
        );
      }
    }
  }
  return { lines, ok };
}

if (import.meta.main) {
  const parsed = await parseCli({
    usage: HELP,
    positionals: true,
    options: {
      splits: { type: "string", default: "train,val,test" },
      "cfg-options": { type: "string", multiple: true },
      "allow-remote-config": { type: "boolean" },
    },
  });
  if (parsed.positionals.length !== 1) usageError("expected one CONFIG argument");
  try {
    const cfg = await loadConfig(parsed.positionals[0], {
      allowRemoteConfig: parsed.values["allow-remote-config"],
    });
    applyCfgOptions(cfg, parsed.values["cfg-options"] ?? []);
    const { lines, ok } = await checkDataset(cfg, parsed.values.splits!.split(","));
    console.log(lines.join("\n"));
    console.log(ok ? "check-dataset: OK" : "check-dataset: FAILED");
    Deno.exit(ok ? 0 : 1);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
