/**
 * Reference cross-entropy losses of mmdetection's `CrossEntropyLoss` with `weight_reduce_loss`
 * semantics: softmax CE (`use_sigmoid=False`, class weights, `ignore_index`) and sigmoid BCE
 * (`use_sigmoid=True`, class weights as `pos_weight`), with gradients w.r.t. the logits.
 *
 * @module
 */
import { sigmoid, softplus } from "./focal_loss_ref.ts";
import { type ReduceRefOptions, weightReduceRef } from "./weight_reduce_ref.ts";

/** Common options: per-sample (CE) or per-element (BCE) weights, class weights, loss weight. */
export interface CeRefOptions extends ReduceRefOptions {
  weights?: ArrayLike<number> | null;
  classWeight?: ArrayLike<number> | null;
  lossWeight?: number;
}

function finish(
  elem: Float64Array,
  opts: CeRefOptions,
): { value: number | Float64Array; dLoss: Float64Array; lw: number } {
  const { value, dLoss } = weightReduceRef(elem, opts.weights ?? null, opts);
  const lw = opts.lossWeight ?? 1;
  return { value: typeof value === "number" ? lw * value : value.map((v) => lw * v), dLoss, lw };
}

/**
 * Softmax cross-entropy of logits `[N, C]` and labels `[N]`: per sample
 * `cw[y]·(logsumexp(x) − x[y])`, 0 for `y == ignoreIndex` (default −100), then weighted and reduced.
 */
export function softmaxCrossEntropyRef(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  opts: CeRefOptions & { ignoreIndex?: number } = {},
): { value: number | Float64Array; grad: Float64Array } {
  const N = labels.length, C = logits.length / N, ignore = opts.ignoreIndex ?? -100;
  const elem = new Float64Array(N), soft = new Float64Array(N * C);
  for (let i = 0; i < N; i++) {
    let m = -Infinity;
    for (let c = 0; c < C; c++) m = Math.max(m, logits[i * C + c]);
    let s = 0;
    for (let c = 0; c < C; c++) s += Math.exp(logits[i * C + c] - m);
    for (let c = 0; c < C; c++) soft[i * C + c] = Math.exp(logits[i * C + c] - m) / s;
    const y = labels[i];
    if (y === ignore) continue;
    const cw = opts.classWeight ? opts.classWeight[y] : 1;
    elem[i] = cw * (m + Math.log(s) - logits[i * C + y]);
  }
  const { value, dLoss, lw } = finish(elem, opts);
  const grad = new Float64Array(N * C);
  for (let i = 0; i < N; i++) {
    const y = labels[i];
    if (y === ignore) continue;
    const cw = opts.classWeight ? opts.classWeight[y] : 1;
    for (let c = 0; c < C; c++) {
      grad[i * C + c] = lw * dLoss[i] * cw * (soft[i * C + c] - (c === y ? 1 : 0));
    }
  }
  return { value, grad };
}

/**
 * Binary cross-entropy with logits, element-wise over `[N, C]` with targets `[N, C]` in [0, 1]:
 * `pw_c·y·sp(−x) + (1 − y)·sp(x)` with `pw = classWeight` (PyTorch's `pos_weight`), weights
 * `[N, C]`, then reduced.
 */
export function sigmoidBceRef(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  opts: CeRefOptions = {},
): { value: number | Float64Array; grad: Float64Array } {
  const n = logits.length, C = opts.classWeight ? opts.classWeight.length : 1;
  const pw = (k: number) => (opts.classWeight ? opts.classWeight[k % C] : 1);
  const elem = Float64Array.from({ length: n }, (_, k) => {
    const x = logits[k], y = targets[k];
    return pw(k) * y * softplus(-x) + (1 - y) * softplus(x);
  });
  const { value, dLoss, lw } = finish(elem, opts);
  const grad = Float64Array.from({ length: n }, (_, k) => {
    const x = logits[k], y = targets[k];
    return lw * dLoss[k] * (-pw(k) * y * sigmoid(-x) + (1 - y) * sigmoid(x));
  });
  return { value, grad };
}

/**
 * mmdetection v2.11's `_expand_onehot_labels`: class labels `[N]` to one-hot targets `[N, C]`
 * (labels outside [0, C) give all zeros) and per-sample weights broadcast to `[N, C]`.
 */
export function expandOnehotRef(
  labels: ArrayLike<number>,
  numClasses: number,
  weights: ArrayLike<number> | null = null,
): { targets: Float64Array; weights: Float64Array | null } {
  const N = labels.length, targets = new Float64Array(N * numClasses);
  for (let i = 0; i < N; i++) {
    if (labels[i] >= 0 && labels[i] < numClasses) targets[i * numClasses + labels[i]] = 1;
  }
  return {
    targets,
    weights: weights
      ? Float64Array.from({ length: N * numClasses }, (_, k) => weights[Math.floor(k / numClasses)])
      : null,
  };
}
