/**
 * mmcv's `init_cfg=dict(type="Pretrained", checkpoint=..., prefix=...)`: after a detector's own
 * init, the backbone (or neck, or head) that names a pretrained checkpoint loads it as mmcv's
 * `PretrainedInit` does, non-strictly with mmcv's mismatch report. Without `prefix` the checkpoint's
 * state dict (its `state_dict` entry when it has one, `module.` stripped) loads as it is; with
 * `prefix` only the keys that start with it load, with the prefix removed. The deprecated
 * `model.pretrained` is the backbone's checkpoint. `torchvision://` and `open-mmlab://` names
 * resolve to the torch hub cache (see `lib/runner/pth_checkpoint.ts`).
 *
 * @module
 */
import type { Config } from "../config/config.ts";
import { isDict } from "../config/config.ts";
import type { BaseDetector } from "../models/detectors/base.ts";
import { loadStateDictReport } from "../nn/load_report.ts";
import type { Module } from "../nn/module.ts";
import { loadCheckpoint } from "../runner/checkpoint.ts";
import { type FetchOptions, isPthPath, loadPthAsCheckpoint } from "../runner/pth_checkpoint.ts";
import { ConfigError } from "../utils/errors.ts";
import { fromCpuStateDict } from "./adapters.ts";

/** One Pretrained init to apply. */
export interface PretrainedInit {
  /** Config path of the module (`model.backbone`). */
  where: string;
  /** Child name on the detector (`backbone`, `neck`, `bbox_head`). */
  child: string;
  /** Checkpoint path or model-zoo name. */
  checkpoint: string;
  /** Key prefix to select and strip, or null. */
  prefix: string | null;
}

const CHILDREN: [string, string][] = [["backbone", "backbone"], ["neck", "neck"], [
  "bbox_head",
  "bbox_head",
]];
const KEYS = new Set(["type", "checkpoint", "prefix", "map_location"]);

/**
 * The Pretrained inits a model config asks for.
 *
 * @throws {ConfigError} For a Pretrained init without a string `checkpoint`, with unknown keys,
 *   or for `model.pretrained` together with a backbone Pretrained init (mmdet refuses both).
 */
export function pretrainedInits(model: Record<string, unknown>, file = "config"): PretrainedInit[] {
  const out: PretrainedInit[] = [];
  for (const [key, child] of CHILDREN) {
    const m = model[key];
    if (!isDict(m)) continue;
    const list = Array.isArray(m.init_cfg) ? m.init_cfg : m.init_cfg ? [m.init_cfg] : [];
    for (const [i, c] of list.entries()) {
      if (!isDict(c) || c.type !== "Pretrained") continue;
      const where = `model.${key}.init_cfg${Array.isArray(m.init_cfg) ? `[${i}]` : ""}`;
      for (const k of Object.keys(c)) {
        if (!KEYS.has(k)) {
          throw new ConfigError(
            `Config "${file}": ${where} has unknown key "${k}" (Pretrained takes checkpoint, prefix, map_location)`,
          );
        }
      }
      if (typeof c.checkpoint !== "string" || !c.checkpoint) {
        throw new ConfigError(
          `Config "${file}": ${where} is Pretrained but has no "checkpoint" path or name`,
        );
      }
      if (c.prefix !== undefined && c.prefix !== null && typeof c.prefix !== "string") {
        throw new ConfigError(`Config "${file}": ${where}.prefix must be a string`);
      }
      out.push({ where, child, checkpoint: c.checkpoint, prefix: (c.prefix as string) ?? null });
    }
  }
  if (typeof model.pretrained === "string" && model.pretrained) {
    if (out.some((p) => p.child === "backbone")) {
      throw new ConfigError(
        `Config "${file}": model.pretrained and model.backbone.init_cfg Pretrained are both set: ` +
          `keep one (mmdet refuses both)`,
      );
    }
    out.push({
      where: "model.pretrained",
      child: "backbone",
      checkpoint: model.pretrained,
      prefix: null,
    });
  }
  return out;
}

/**
 * Applies `cfg.model`'s Pretrained inits to `det` (call after the detector's own init, as
 * mmdet's `model.init_weights()`); returns what was applied. Messages go to `log`.
 */
export async function applyPretrained(
  det: BaseDetector,
  cfg: Config,
  log: (msg: string) => void = console.log,
  fetchOpts: FetchOptions = {},
): Promise<PretrainedInit[]> {
  const model = cfg.dict.model;
  if (!isDict(model)) return [];
  const inits = pretrainedInits(model, cfg.filename);
  const children = new Map(det.children());
  for (const p of inits) {
    const target = children.get(p.child) as Module | undefined;
    if (!target) {
      throw new ConfigError(`Config "${cfg.filename}": ${p.where}: the detector has no ${p.child}`);
    }
    log(
      `load ${p.child} checkpoint from ${p.checkpoint}${p.prefix ? ` (prefix "${p.prefix}")` : ""}`,
    );
    const ck = isPthPath(p.checkpoint)
      ? await loadPthAsCheckpoint(p.checkpoint, {
        optimizer: false,
        reviseKeys: p.prefix === null, // mmcv strips "module." only without a prefix
        log,
        ...fetchOpts,
      })
      : await loadCheckpoint(p.checkpoint, { optimizer: false });
    let sd = ck.stateDict;
    if (p.prefix !== null) {
      const prefix = p.prefix.endsWith(".") ? p.prefix : `${p.prefix}.`;
      sd = Object.fromEntries(
        Object.entries(sd).filter(([k]) => k.startsWith(prefix)).map((
          [k, v],
        ) => [k.slice(prefix.length), v]),
      );
      if (Object.keys(sd).length === 0) {
        throw new ConfigError(
          `Config "${cfg.filename}": ${p.where}: no key of "${p.checkpoint}" starts with "${prefix}" ` +
            `(${prefix} is not in the pretrained model)`,
        );
      }
    }
    loadStateDictReport(target, fromCpuStateDict(sd), {
      strict: false,
      source: p.checkpoint,
      warn: log,
    });
  }
  return inits;
}
