/**
 * Reference RetinaNet head loss (mmdetection `AnchorHead.loss` with `FocalLoss` + `L1Loss`,
 * spec §2.5–§2.8), from per-level logits/deltas, anchors, valid flags and gts per image:
 * assign → targets → focal + L1, each divided by num_total_pos = Σ_img max(#pos, 1). Float64,
 * except the assignment and the box targets, which use the CPU `MaxIoUAssigner` and
 * `DeltaXYWHBBoxCoder` of `lib/core` (float32 as mmdetection's; both are checked against PyTorch
 * in tests/core/bbox). This is the reference for the GPU head loss; its own oracle is
 * `tests/fixtures/core/retina_loss.json`.
 *
 * @module
 */
import {
  DeltaXYWHBBoxCoder,
  type DeltaXYWHBBoxCoderCfg,
  MaxIoUAssigner,
  type MaxIoUAssignerCfg,
} from "../../lib/core/mod.ts";
import { sigmoidFocalRef } from "./focal_loss_ref.ts";
import { FLOAT32_EPS } from "./weight_reduce_ref.ts";

/** Inputs: per level arrays are NCHW; boxes are flat xyxy. */
export interface RetinaLossRefInputs {
  numClasses: number;
  /** Anchors per cell (A). */
  numAnchors: number;
  /** Per level `[H, W]`. */
  featmapSizes: [number, number][];
  /** Per level logits `[N, A·C, H, W]`. */
  clsScores: ArrayLike<number>[];
  /** Per level deltas `[N, A·4, H, W]`. */
  bboxPreds: ArrayLike<number>[];
  /** Per level anchors `[H·W·A, 4]`, row `(y·W + x)·A + a` (the same for every image). */
  anchors: ArrayLike<number>[];
  /** Per image, per level valid flags `[H·W·A]`. */
  validFlags: ArrayLike<number>[][];
  /** Per image gt boxes `[k, 4]` and labels `[k]`. */
  gtBboxes: ArrayLike<number>[];
  gtLabels: ArrayLike<number>[];
  gtBboxesIgnore?: (ArrayLike<number> | null)[];
  /** Per image `[h, w]`; needed only with `allowedBorder ≥ 0`. */
  imgShapes?: [number, number][];
}

/** Head settings; defaults are RetinaNet's. */
export interface RetinaLossRefCfg {
  assigner?: MaxIoUAssignerCfg;
  coder?: DeltaXYWHBBoxCoderCfg;
  alpha?: number;
  gamma?: number;
  lossClsWeight?: number;
  lossBboxWeight?: number;
  allowedBorder?: number;
  posWeight?: number;
  /** `"v2.11"`: sum / avg_factor; `"v2.2x"`: sum / (avg_factor + float32 eps). */
  version?: "v2.11" | "v2.2x";
}

/** Per-level losses, gradients of Σ(all losses) w.r.t. the inputs, and the targets. */
export interface RetinaLossRefResult {
  lossCls: number[];
  lossBbox: number[];
  numTotalPos: number;
  /** Per level, NCHW like the inputs. */
  gradCls: Float64Array[];
  gradBbox: Float64Array[];
  /** Per level `[N·A_l]` (image-major), `[N·A_l·4]` for boxes. */
  labels: Int32Array[];
  labelWeights: Float64Array[];
  bboxTargets: Float64Array[];
  bboxWeights: Float64Array[];
}

/** Computes the RetinaNet head loss; see the module doc. */
export function retinaLossRef(
  inp: RetinaLossRefInputs,
  cfg: RetinaLossRefCfg = {},
): RetinaLossRefResult {
  const C = inp.numClasses, A = inp.numAnchors, N = inp.gtBboxes.length;
  const assigner = cfg.assigner ?? { pos_iou_thr: 0.5, neg_iou_thr: 0.4, min_pos_iou: 0 };
  const coder = new DeltaXYWHBBoxCoder(cfg.coder);
  const { alpha = 0.25, gamma = 2, lossClsWeight = 1, lossBboxWeight = 1 } = cfg;
  const { allowedBorder = -1, posWeight = -1, version = "v2.11" } = cfg;
  const levelCounts = inp.featmapSizes.map(([h, w]) => h * w * A);
  const total = levelCounts.reduce((a, b) => a + b, 0);
  const allAnchors = inp.anchors.flatMap((a) => Array.from(a));
  // Targets over all anchors of every image, image-major.
  const labels = new Int32Array(N * total).fill(C), labelW = new Float64Array(N * total);
  const bboxT = new Float64Array(N * total * 4), bboxW = new Float64Array(N * total * 4);
  let numTotalPos = 0;
  for (let n = 0; n < N; n++) {
    // 1. inside flags: the valid flags, plus the border test when allowed_border ≥ 0
    const valid = inp.validFlags[n].flatMap((v) => Array.from(v));
    const inside: number[] = [];
    for (let j = 0; j < total; j++) {
      let ok = valid[j] !== 0;
      if (ok && allowedBorder >= 0) {
        const [h, w] = inp.imgShapes![n], b = allowedBorder, a = allAnchors.slice(4 * j, 4 * j + 4);
        ok = a[0] >= -b && a[1] >= -b && a[2] < w + b && a[3] < h + b;
      }
      if (ok) inside.push(j);
    }
    if (inside.length === 0) {
      throw new RangeError(`retina reference: image ${n} has no inside anchors`);
    }
    // 2. assign on the inside anchors
    const insideBoxes = inside.flatMap((j) => allAnchors.slice(4 * j, 4 * j + 4));
    const res = new MaxIoUAssigner(assigner).assign({
      bboxes: Float32Array.from(insideBoxes),
      gtBboxes: Float32Array.from(inp.gtBboxes[n]),
      gtBboxesIgnore: inp.gtBboxesIgnore?.[n] ? Float32Array.from(inp.gtBboxesIgnore[n]!) : null,
      gtLabels: Int32Array.from(inp.gtLabels[n]),
    });
    // 3–7. positives: encoded targets, weight 1, gt label; negatives: label weight 1
    let numPos = 0;
    res.gtInds.forEach((g, r) => {
      const j = n * total + inside[r];
      if (g > 0) {
        numPos++;
        const gt = Array.from(inp.gtBboxes[n]).slice(4 * (g - 1), 4 * g);
        const anchor = Float32Array.from(insideBoxes.slice(4 * r, 4 * r + 4));
        bboxT.set(coder.encode(anchor, Float32Array.from(gt)), 4 * j);
        bboxW.fill(1, 4 * j, 4 * j + 4);
        labels[j] = inp.gtLabels[n][g - 1];
        labelW[j] = posWeight <= 0 ? 1 : posWeight;
      } else if (g === 0) {
        labelW[j] = 1;
      }
    });
    // 9. avg_factor
    numTotalPos += Math.max(numPos, 1);
  }
  const denom = version === "v2.2x" ? numTotalPos + FLOAT32_EPS : numTotalPos;
  const out: RetinaLossRefResult = {
    lossCls: [],
    lossBbox: [],
    numTotalPos,
    gradCls: [],
    gradBbox: [],
    labels: [],
    labelWeights: [],
    bboxTargets: [],
    bboxWeights: [],
  };
  let start = 0;
  inp.featmapSizes.forEach(([H, W], l) => {
    const cnt = levelCounts[l];
    const cls = inp.clsScores[l], reg = inp.bboxPreds[l];
    const gCls = new Float64Array(cls.length), gReg = new Float64Array(reg.length);
    const lv = {
      labels: new Int32Array(N * cnt),
      labelWeights: new Float64Array(N * cnt),
      bboxTargets: new Float64Array(N * cnt * 4),
      bboxWeights: new Float64Array(N * cnt * 4),
    };
    let sumCls = 0, sumReg = 0;
    for (let n = 0; n < N; n++) {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          for (let a = 0; a < A; a++) {
            const local = (y * W + x) * A + a, j = n * total + start + local, o = n * cnt + local;
            lv.labels[o] = labels[j];
            lv.labelWeights[o] = labelW[j];
            lv.bboxTargets.set(bboxT.subarray(4 * j, 4 * j + 4), 4 * o);
            lv.bboxWeights.set(bboxW.subarray(4 * j, 4 * j + 4), 4 * o);
            // 8. focal loss over the C classes of this anchor (channel a·C + c)
            for (let c = 0; c < C; c++) {
              const idx = ((n * A * C + a * C + c) * H + y) * W + x;
              const { loss, grad } = sigmoidFocalRef([cls[idx]], [labels[j] === c ? 1 : 0], {
                alpha,
                gamma,
              });
              sumCls += labelW[j] * loss[0];
              gCls[idx] = (lossClsWeight * labelW[j] * grad[0]) / denom;
            }
            // L1 over the 4 coordinates (channel a·4 + k), summed, not averaged
            for (let k = 0; k < 4; k++) {
              const idx = ((n * A * 4 + a * 4 + k) * H + y) * W + x;
              const d = reg[idx] - bboxT[4 * j + k];
              sumReg += bboxW[4 * j + k] * Math.abs(d);
              gReg[idx] = (lossBboxWeight * bboxW[4 * j + k] * Math.sign(d)) / denom;
            }
          }
        }
      }
    }
    out.lossCls.push((lossClsWeight * sumCls) / denom);
    out.lossBbox.push((lossBboxWeight * sumReg) / denom);
    out.gradCls.push(gCls);
    out.gradBbox.push(gReg);
    out.labels.push(lv.labels);
    out.labelWeights.push(lv.labelWeights);
    out.bboxTargets.push(lv.bboxTargets);
    out.bboxWeights.push(lv.bboxWeights);
    start += cnt;
  });
  return out;
}
