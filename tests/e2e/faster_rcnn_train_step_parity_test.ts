/**
 * Three training steps of the tiny two-stage detector of
 * `configs/faster_rcnn/faster_rcnn_tiny_shapes.ts` (ResNet-18/16 with BN in training mode, FPN 32
 * over five levels, RPNHead, StandardRoIHead with a Shared2FC box head) against plain PyTorch
 * (`tools/gen_faster_rcnn_step_fixture.py`: mmdetection v2.25's TwoStageDetector.forward_train —
 * RPN targets and loss, proposals from the detached RPN outputs, RoI assignment and sampling with
 * the gts added, RoIAlign over the FPN levels, the box loss — and SGD). Iterations run as the runner
 * runs them (`DetectorRunnerModel.trainStep` → `zeroGrad` → `backward` → `step`, one memory
 * scope each); checked: the four losses and the accuracy of every step, the proposals of steps 1
 * and 3, the gradients of step 1 from the box head down to the stem, and parameters and BN
 * running statistics after step 3.
 */
import { DetectorRunnerModel } from "../../lib/apis/adapters.ts";
import { buildModel } from "../../lib/apis/common.ts";
import type { Tensor } from "../../lib/autograd/tensor.ts";
import { type CfgDict, loadConfig, mergeAIntoB } from "../../lib/config/config.ts";
import type { Batch, ImgMeta } from "../../lib/datasets/types.ts";
import { getGpu } from "../../lib/gpu/runtime.ts";
import type { HostTensor } from "../../lib/nn/module.ts";
import { buildOptimizer } from "../../lib/runner/optimizers/builder.ts";
import { decodeSafetensors } from "../../lib/utils/safetensors.ts";
import type { ProposalsGpu } from "../../lib/models/dense_heads/rpn_head.ts";
import { assert, assertClose } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";

interface StepRef {
  loss_rpn_cls: number;
  loss_rpn_bbox: number;
  loss_cls: number;
  loss_bbox: number;
  acc: number;
  num_proposals: number[];
  rcnn: { rois: number; num_pos: number[] };
}

interface Fixture {
  cfg: {
    num_classes: number;
    anchor_scales: number[];
    anchor_ratios: number[];
    anchor_strides: number[];
    rpn_sampler: { num: number; pos_fraction: number };
    rpn_proposal: {
      nms_pre: number;
      max_per_img: number;
      iou_threshold: number;
      min_bbox_size: number;
    };
    optimizer: Record<string, unknown> & { type: string };
  };
  overrides: Record<string, unknown>;
  state_keys: [string, number[]][];
  state_sums: Record<string, number>;
  batch_shape: number[];
  img_metas: (Omit<ImgMeta, "scale_factor"> & { scale_factor: number[] })[];
  gt_bboxes: number[][];
  gt_labels: number[][];
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
  if (shape.length === 4 || shape.length === 2) {
    const rf = shape.length === 4 ? shape[2] * shape[3] : 1;
    const fanIn = shape[1] * rf, fanOut = shape[0] * rf;
    const scale = name.startsWith("backbone.")
      ? Math.sqrt(6 / fanOut)
      : name === "roi_head.bbox_head.shared_fcs.0.weight"
      ? 0.01
      : name === "roi_head.bbox_head.shared_fcs.1.weight"
      ? 0.02
      : name === "roi_head.bbox_head.fc_cls.weight"
      ? 0.05
      : name === "roi_head.bbox_head.fc_reg.weight"
      ? 0.02
      : Math.sqrt(6 / (fanIn + fanOut));
    f = (x) => x * scale;
  } else if (name.endsWith("running_mean")) f = (x) => x * 0.1;
  else if (name.endsWith("running_var")) f = (x) => 1 + x * 0.25;
  else if (name.startsWith("backbone.") && name.endsWith(".weight")) f = (x) => 1 + x * 0.2;
  else if (name.startsWith("roi_head.bbox_head.shared_fcs.")) f = (x) => 1 + x * 0.05;
  else if (name.startsWith("backbone.")) f = (x) => x * 0.1;
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

gpuTest(
  "three SGD steps of the tiny Faster R-CNN (BN training mode) equal PyTorch: losses, proposals, gradients, parameters, running stats",
  async () => {
    const fx = JSON.parse(
      await Deno.readTextFile(new URL("faster_rcnn_step.json", FIXTURES)),
    ) as Fixture;
    const file = decodeSafetensors(
      await Deno.readFile(new URL("faster_rcnn_step.safetensors", FIXTURES)),
      "faster_rcnn_step",
    );
    const ref: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [k, t] of Object.entries(file.tensors)) {
      ref[k.slice(1)] = { shape: t.shape, data: Float32Array.from(t.data as Float32Array) };
    }
    const cfg = await loadConfig(
      new URL("../../configs/faster_rcnn/faster_rcnn_tiny_shapes.ts", import.meta.url),
    );
    // deno-lint-ignore no-explicit-any
    const model = cfg.dict.model as any;
    const ag = model.rpn_head.anchor_generator, c = fx.cfg;
    const rpnS = model.train_cfg.rpn.sampler, prop = model.train_cfg.rpn_proposal;
    assert.deepEqual(
      [
        ag.scales,
        ag.ratios,
        ag.strides,
        model.roi_head.bbox_head.num_classes,
        [rpnS.num, rpnS.pos_fraction],
        [prop.nms_pre, prop.max_per_img, prop.nms.iou_threshold, prop.min_bbox_size],
      ],
      [
        c.anchor_scales,
        c.anchor_ratios,
        c.anchor_strides,
        c.num_classes,
        [c.rpn_sampler.num, c.rpn_sampler.pos_fraction],
        [
          c.rpn_proposal.nms_pre,
          c.rpn_proposal.max_per_img,
          c.rpn_proposal.iou_threshold,
          c.rpn_proposal.min_bbox_size,
        ],
      ],
      "The tiny two-stage config differs from the fixture's: regenerate tests/fixtures/e2e " +
        "with tools/gen_faster_rcnn_step_fixture.py",
    );
    cfg.dict = mergeAIntoB({ model: fx.overrides } as CfgDict, cfg.dict);
    const det = buildModel(cfg, 0);
    const own = det.stateTensors();
    assert.deepEqual(
      new Map([...own].map(([k, t]) => [k, [...t.shape]])),
      new Map(fx.state_keys),
      "state-dict keys and shapes equal PyTorch's",
    );
    const sd: Record<string, HostTensor> = {};
    for (const [k, shape] of fx.state_keys) {
      if (k.endsWith("num_batches_tracked")) {
        sd[k] = { dtype: "i32", shape, data: new Int32Array(1) };
        continue;
      }
      const data = fixtureValue(k, shape);
      assert.equal(
        seqSum(data),
        fx.state_sums[k],
        `${k}: regenerated values equal the generator's`,
      );
      sd[k] = { dtype: "f32", shape, data };
    }
    det.loadStateDict(sd);
    const opt = buildOptimizer(det, fx.cfg.optimizer);
    const runnerModel = new DetectorRunnerModel(det);
    runnerModel.train();

    // the proposals each step's RPN hands the RoI head
    // deno-lint-ignore no-explicit-any
    const rpnHead = (det as any).rpnHead;
    const getProposals = rpnHead.getProposalsGpu.bind(rpnHead);
    let captured: ProposalsGpu | null = null;
    rpnHead.getProposalsGpu = (...args: unknown[]) => (captured = getProposals(...args));

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
    const keys = ["loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "loss_bbox", "acc"] as const;
    for (let step = 0; step < fx.steps.length; step++) {
      const r = fx.steps[step];
      gpu.beginScope();
      let got: Float32Array[];
      try {
        captured = null;
        const out = runnerModel.trainStep(batch, opt);
        const logVars = out.log_vars as unknown as Record<string, Tensor>;
        for (const k of keys) assert.ok(logVars[k], `step ${step + 1} logs ${k}`);
        opt.zeroGrad();
        await out.loss!.backward();
        await opt.step();
        const p = captured as ProposalsGpu | null;
        assert.ok(p, "the step made proposals");
        got = await gpu.readMany([
          ...keys.map((k) => logVars[k].raw),
          p.proposals.raw,
          p.counts.raw,
        ]) as Float32Array[];
        for (const v of Object.values(logVars)) v.dispose();
      } finally {
        gpu.endScope();
      }
      for (const [i, k] of keys.entries()) {
        // acc counts RoIs (100 / 606 per RoI): equal to a few f32 ulps
        assertClose(got[i][0], r[k], { rtol: 1e-4, atol: 0, msg: `step ${step + 1} ${k}` });
      }
      // proposals: the same count per image, the same rows in the same order
      const rows = got[keys.length], counts = new Uint32Array(got[keys.length + 1].buffer);
      assert.deepEqual([...counts], r.num_proposals, `step ${step + 1} proposals per image`);
      if (step === 0 || step === 2) {
        // step 3's RPN runs on parameters two updates apart from PyTorch's by f32 rounding:
        // its boxes are compared to 1e-3 relative + 0.02 px (the image is 96 px wide), step 1's
        // to 2e-3 px
        const rtol = step === 0 ? 0 : 1e-3, atol = step === 0 ? 2e-3 : 2e-2;
        const M = rows.length / (5 * counts.length);
        for (let n = 0; n < counts.length; n++) {
          const want = ref[`proposals${step + 1}_${n}`].data;
          const mine = rows.subarray(n * M * 5, (n * M + counts[n]) * 5);
          const box = (a: Float32Array) => a.filter((_, i) => i % 5 !== 4);
          const score = (a: Float32Array) => a.filter((_, i) => i % 5 === 4);
          assertClose(box(mine), box(want), {
            rtol,
            atol,
            msg: `step ${step + 1} image ${n} proposal boxes`,
          });
          assertClose(score(mine), score(want), {
            rtol: Math.max(rtol, 1e-4),
            atol: 1e-6,
            msg: `step ${step + 1} image ${n} proposal scores`,
          });
        }
      }
      if (step === 0) {
        for (const name of fx.grad_params) {
          const g = params.get(name)?.grad;
          assert.ok(g, `${name} has a gradient after step 1`);
          const want = ref[`grad.${name}`];
          assert.deepEqual([...g.shape], want.shape, `grad ${name} shape`);
          assertClose(await g.toArray(), want.data, {
            rtol: 1e-4,
            atol: 1e-4 * maxAbs(want.data),
            msg: `step 1 grad ${name}`,
          });
        }
      }
    }
    for (const name of fx.param3) {
      const want = ref[`param3.${name}`].data;
      const got = await params.get(name)!.toArray();
      const p0 = sd[name].data as Float32Array;
      const dGot = got.map((v, i) => v - p0[i]), dWant = want.map((v, i) => v - p0[i]);
      const ulps = 2 * 2 ** -23 * maxAbs(p0);
      const atol = 2e-3 * maxAbs(dWant) + ulps;
      assertClose(dGot, dWant, { rtol: 1e-3, atol, msg: `update of ${name} over 3 steps` });
      assertClose(got, want, { rtol: 1e-5, atol, msg: `${name} after 3 steps` });
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
  },
);
