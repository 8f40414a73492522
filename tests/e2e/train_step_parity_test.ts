/**
 * A whole training step of the tiny RetinaNet of `configs/retinanet/retinanet_tiny_shapes.ts`
 * (ResNet-18/16 with BN in training mode, FPN 32, RetinaHead 2×32, focal + L1 loss) against plain
 * PyTorch (`tools/gen_train_step_fixture.py`), in two variants: the head without norm and SGD
 * (momentum, weight decay), and the head with GroupNorm and AdamW. Three iterations run exactly as
 * the runner runs them (one memory scope per iteration, `DetectorRunnerModel.trainStep` →
 * `zeroGrad` → `backward` → `step`); checked: the losses of every step, the gradients of step 1,
 * and parameters and BN running statistics after step 3.
 */
import { DetectorRunnerModel } from "../../lib/apis/adapters.ts";
import { buildModel } from "../../lib/apis/common.ts";
import type { Tensor } from "../../lib/autograd/tensor.ts";
import { loadConfig } from "../../lib/config/config.ts";
import type { Batch, ImgMeta } from "../../lib/datasets/types.ts";
import { getGpu } from "../../lib/gpu/runtime.ts";
import type { HostTensor } from "../../lib/nn/module.ts";
import { buildOptimizer } from "../../lib/runner/optimizers/builder.ts";
import { decodeSafetensors } from "../../lib/utils/safetensors.ts";
import { assert, assertClose } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";

interface StepRef {
  loss_cls: number;
  loss_bbox: number;
  loss_cls_levels: number[];
  loss_bbox_levels: number[];
}

interface TrainStepFixture {
  hyper: {
    octave_base_scale: number;
    scales_per_octave: number;
    ratios: number[];
    strides: number[];
    num_classes: number;
  };
  bbox_head: { feat_channels: number; norm_cfg: Record<string, unknown> | null };
  optimizer: Record<string, unknown> & { type: string };
  state_keys: [string, number[]][];
  state_sums: Record<string, number>;
  batch_shape: number[];
  img_metas: (Omit<ImgMeta, "scale_factor"> & { scale_factor: number[] })[];
  gt_bboxes: number[][];
  gt_labels: number[][];
  num_pos: number[];
  num_total_pos: number;
  steps: StepRef[];
  grad_params: string[];
  param3: string[];
  bn3: string[];
}

/** 32-bit FNV-1a of the UTF-8 bytes of `text` (as `fnv1a` in the generator). */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(text)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

/** `n` values in [-1, 1) from the generator's LCG seeded with FNV-1a(name) (`lcg_uniform`). */
function lcgUniform(name: string, n: number): Float64Array {
  let s = fnv1a(name);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s >>> 8) / 8388608 - 1;
  }
  return out;
}

/** The fixture's initial value of state-dict entry `name` (`fixture_value` in the generator). */
function fixtureValue(name: string, shape: number[]): Float32Array<ArrayBuffer> {
  const n = shape.reduce((a, b) => a * b, 1);
  const u = lcgUniform(name, n);
  let f: (x: number) => number;
  if (shape.length === 4) {
    const fanIn = shape[1] * shape[2] * shape[3], fanOut = shape[0] * shape[2] * shape[3];
    const scale = name.startsWith("backbone.")
      ? Math.sqrt(6 / fanOut)
      : name.startsWith("neck.")
      ? Math.sqrt(6 / (fanIn + fanOut))
      : 0.01 * Math.sqrt(3);
    f = (x) => x * scale;
  } else if (name.endsWith("running_mean")) f = (x) => x * 0.1;
  else if (name.endsWith("running_var")) f = (x) => 1 + x * 0.25;
  else if (name === "bbox_head.retina_cls.bias") f = (x) => -Math.log(99) + x * 0.2;
  else if ((name.startsWith("backbone.") || name.includes(".gn.")) && name.endsWith(".weight")) {
    f = (x) => 1 + x * 0.2;
  } else if (name.startsWith("backbone.") || name.includes(".gn.")) f = (x) => x * 0.1;
  else f = (x) => x * 0.05;
  return new Float32Array(u.map(f));
}

function seqSum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

const FIXTURES = new URL("../fixtures/e2e/", import.meta.url);

async function loadTrainStepFixture(name: string): Promise<
  { fx: TrainStepFixture; ref: Record<string, { shape: number[]; data: Float32Array }> }
> {
  const fx = JSON.parse(
    await Deno.readTextFile(new URL(`${name}.json`, FIXTURES)),
  ) as TrainStepFixture;
  const file = decodeSafetensors(
    await Deno.readFile(new URL(`${name}.safetensors`, FIXTURES)),
    name,
  );
  const ref: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [k, t] of Object.entries(file.tensors)) {
    ref[k.slice(1)] = { shape: t.shape, data: Float32Array.from(t.data as Float32Array) };
  }
  return { fx, ref };
}

/** Builds the tiny detector with the fixture's variant and checks three training iterations. */
async function checkTrainSteps(name: string): Promise<void> {
  const { fx, ref } = await loadTrainStepFixture(name);
  const cfg = await loadConfig(
    new URL("../../configs/retinanet/retinanet_tiny_shapes.ts", import.meta.url),
  );
  // deno-lint-ignore no-explicit-any
  const model = cfg.dict.model as any;
  const ag = model.bbox_head.anchor_generator, h = fx.hyper;
  assert.deepEqual(
    [
      ag.octave_base_scale,
      ag.scales_per_octave,
      ag.ratios,
      ag.strides,
      model.bbox_head.num_classes,
    ],
    [h.octave_base_scale, h.scales_per_octave, h.ratios, h.strides, h.num_classes],
    "The tiny config's anchors or classes differ from the fixture's: regenerate tests/fixtures/e2e " +
      "with tools/gen_train_step_fixture.py",
  );
  // the variant's head settings on top of the config (a no-op where the config has them already)
  Object.assign(model.bbox_head, fx.bbox_head);
  const det = buildModel(cfg, 0);
  const own = det.stateTensors();
  assert.deepEqual(
    new Map([...own].map(([k, t]) => [k, [...t.shape]])),
    new Map(fx.state_keys),
    "state-dict keys and shapes equal PyTorch's",
  );

  // the initial state dict, regenerated bit for bit
  const sd: Record<string, HostTensor> = {};
  for (const [k, shape] of fx.state_keys) {
    if (k.endsWith("num_batches_tracked")) {
      sd[k] = { dtype: "i32", shape, data: new Int32Array(1) };
      continue;
    }
    const data = fixtureValue(k, shape);
    assert.equal(seqSum(data), fx.state_sums[k], `${k}: regenerated values equal the generator's`);
    sd[k] = { dtype: "f32", shape, data };
  }
  det.loadStateDict(sd);
  const opt = buildOptimizer(det, fx.optimizer);
  const runnerModel = new DetectorRunnerModel(det);
  runnerModel.train();

  const input = ref.input;
  assert.deepEqual(input.shape, fx.batch_shape);
  const batch: Batch = {
    img: { shape: input.shape, data: input.data },
    img_metas: fx.img_metas.map((m) => ({
      ...m,
      scale_factor: Float32Array.from(m.scale_factor),
    })),
    gt_bboxes: fx.gt_bboxes.map((b) => Float32Array.from(b)),
    gt_labels: fx.gt_labels.map((l) => Int32Array.from(l)),
    indices: [0, 1],
  };

  const gpu = getGpu();
  const params = new Map(det.namedParameters());
  for (let step = 0; step < fx.steps.length; step++) {
    // one iteration as EpochBasedRunner + MemoryScopeHook + OptimizerHook run it
    gpu.beginScope();
    let logVars: Record<string, unknown>;
    try {
      const out = runnerModel.trainStep(batch, opt);
      logVars = out.log_vars;
      opt.zeroGrad();
      await out.loss!.backward();
      await opt.step();
    } finally {
      gpu.endScope();
    }
    const r = fx.steps[step];
    const [lc, lb] = await gpu.readMany([
      (logVars.loss_cls as Tensor).raw,
      (logVars.loss_bbox as Tensor).raw,
    ]);
    for (const v of Object.values(logVars)) (v as Tensor).dispose();
    assertClose(lc[0], r.loss_cls, { rtol: 1e-4, atol: 0, msg: `step ${step + 1} loss_cls` });
    assertClose(lb[0], r.loss_bbox, { rtol: 1e-4, atol: 0, msg: `step ${step + 1} loss_bbox` });
    if (step === 0) {
      for (const n of fx.grad_params) {
        const g = params.get(n)?.grad;
        assert.ok(g, `${n} has a gradient after step 1`);
        const want = ref[`grad.${n}`];
        assert.deepEqual([...g.shape], want.shape, `grad ${n} shape`);
        assertClose(await g.toArray(), want.data, {
          rtol: 1e-4,
          atol: 1e-4 * maxAbs(want.data),
          msg: `step 1 grad ${n}`,
        });
      }
    }
  }

  // parameters and running statistics after step 3; parameter updates compared as updates.
  // AdamW normalises each element's step (m / (√v + ε)): where a gradient is as small as the f32
  // rounding noise of the larger ones (or changes sign between steps), its step is ill-conditioned
  // in any f32 implementation, so its updates are compared to 2% of the largest step, not 0.2%.
  const updTol = fx.optimizer.type === "AdamW" ? 2e-2 : 2e-3;
  for (const n of fx.param3) {
    const want = ref[`param3.${n}`].data;
    const got = await params.get(n)!.toArray();
    const p0 = sd[n].data as Float32Array;
    const dGot = got.map((v, i) => v - p0[i]), dWant = want.map((v, i) => v - p0[i]);
    // the updates are differences of f32 parameters: allow 2 ulps of the parameter on top
    const ulps = 2 * 2 ** -23 * maxAbs(p0);
    const atol = updTol * maxAbs(dWant) + ulps;
    assertClose(dGot, dWant, { rtol: 1e-3, atol, msg: `update of ${n} over 3 steps` });
    assertClose(got, want, { rtol: 1e-5, atol, msg: `${n} after 3 steps` });
  }
  const state = det.stateTensors();
  for (const b of fx.bn3) {
    for (const s of ["running_mean", "running_var"]) {
      const want = ref[`bn3.${b}.${s}`].data;
      assertClose(await state.get(`${b}.${s}`)!.toArray(), want, {
        rtol: 1e-4,
        atol: 1e-5 * maxAbs(want),
        msg: `${b}.${s} after 3 steps`,
      });
    }
    assert.deepEqual(
      [...(await state.get(`${b}.num_batches_tracked`)!.toArray())],
      [3],
      `${b}.num_batches_tracked`,
    );
  }
  opt.zeroGrad();
  (opt as unknown as { dispose(): void }).dispose();
  det.dispose();
}

gpuTest(
  "three SGD steps of the tiny-shapes RetinaNet (BN training mode) equal PyTorch: losses, gradients, parameters, running stats",
  async () => {
    await checkTrainSteps("train_step");
  },
);

gpuTest(
  "three AdamW steps of the tiny-shapes RetinaNet with a GroupNorm head equal PyTorch: losses, gradients, parameters, running stats",
  async () => {
    await checkTrainSteps("train_step_gn_adamw");
  },
);
