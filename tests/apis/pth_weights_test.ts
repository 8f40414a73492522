/**
 * PyTorch weights in a wgdet detector (GPU): a tiny ResNet-18-FPN-RetinaNet saved by
 * `torch.save(model.state_dict())` (`tools/gen_pth_fixtures.py`) gives PyTorch's outputs;
 * `init_cfg=dict(type="Pretrained", prefix=...)` and a torchvision-style backbone file load as mmcv
 * loads them; `load_from` with a different head reports mmcv's size mismatches and loads the rest.
 */
import { Tensor, tidy } from "../../lib/autograd/tensor.ts";
import { Config } from "../../lib/config/config.ts";
import { buildDetector } from "../../lib/models/mod.ts";
import type { SingleStageDetector } from "../../lib/models/detectors/single_stage.ts";
import { skipInit } from "../../lib/nn/init.ts";
import { loadWeights } from "../../lib/apis/common.ts";
import { applyPretrained, pretrainedInits } from "../../lib/apis/pretrained.ts";
import { encodePthCheckpoint, readPthCheckpoint } from "../../lib/runner/pth_checkpoint.ts";
import { decodeSafetensors } from "../../lib/utils/safetensors.ts";
import { model as baseModel } from "../../configs/_base_/models/retinanet_r50_fpn.ts";
import { assert, assertClose } from "../_assert.ts";
import { gpuTest } from "../_gpu.ts";

const FX = new URL("../fixtures/pth/", import.meta.url);
const PTH = new URL("retinanet_tiny.pth", FX).pathname;

// deno-lint-ignore no-explicit-any
type Cfg = { type: string; [key: string]: any };

/** The fixture's model: ResNet-18 base 2, FPN 8, RetinaHead 3 classes / 8 channels. */
function tinyCfg(numClasses = 3): Cfg {
  const m: Cfg = structuredClone(baseModel);
  const { init_cfg: _, ...backbone } = m.backbone;
  m.backbone = { ...backbone, depth: 18, base_channels: 2 };
  m.neck = { ...m.neck, in_channels: [2, 4, 8, 16], out_channels: 8 };
  m.bbox_head = { ...m.bbox_head, num_classes: numClasses, in_channels: 8, feat_channels: 8 };
  return m;
}

gpuTest(
  "a torch.save(state_dict) RetinaNet loads strictly and matches PyTorch's outputs",
  async () => {
    const ref = decodeSafetensors(
      await Deno.readFile(new URL("retinanet_tiny_ref.safetensors", FX)),
    );
    const det = skipInit(() => buildDetector(tinyCfg())) as SingleStageDetector;
    await loadWeights(det, PTH, true); // strict: every key and shape matches
    det.eval();
    const x = ref.tensors.input;
    const outs = tidy(() => {
      const feats = det.extractFeat(Tensor.from(x.data as Float32Array, x.shape));
      const [cls, reg] = det.bboxHead.forward(feats);
      return { neck: feats, cls, reg };
    });
    let worst = 0;
    for (const kind of ["neck", "cls", "reg"] as const) {
      for (let l = 0; l < 5; l++) {
        const want = ref.tensors[`out.${kind}.${l}`];
        const got = outs[kind][l];
        assert.deepEqual([...got.shape], want.shape, `${kind}.${l} shape`);
        const a = await got.toArray();
        const w = want.data as Float32Array;
        for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(a[i] - w[i]));
        assertClose(a, w, { rtol: 1e-5, atol: 1e-5, msg: `${kind}.${l}` });
      }
    }
    console.log(`retinanet_tiny.pth vs PyTorch: max |diff| ${worst.toExponential(2)}`);
    for (const t of [...outs.neck, ...outs.cls, ...outs.reg]) t.dispose();
    det.dispose();
  },
);

gpuTest(
  "init_cfg Pretrained with prefix loads the backbone keys of a whole-detector .pth",
  async () => {
    const m = tinyCfg();
    m.backbone.init_cfg = { type: "Pretrained", checkpoint: PTH, prefix: "backbone." };
    const cfg = new Config({ model: m }, "tiny.ts");
    assert.deepEqual(pretrainedInits(m), [
      { where: "model.backbone.init_cfg", child: "backbone", checkpoint: PTH, prefix: "backbone." },
    ]);
    const det = buildDetector(m) as SingleStageDetector;
    const before = await det.neck!.stateDict();
    const logs: string[] = [];
    await applyPretrained(det, cfg, (s) => logs.push(s));
    const file = (await readPthCheckpoint(PTH)).stateDict;
    const bb = await det.backbone.stateDict();
    assert.equal(
      Object.keys(bb).length,
      Object.keys(file).filter((k) => k.startsWith("backbone.")).length,
    );
    for (const [k, t] of Object.entries(bb)) {
      const want = file[`backbone.${k}`];
      assert.deepEqual(
        Array.from(t.data as ArrayLike<number>),
        want.dtype === "I64"
          ? [...want.data as BigInt64Array].map(Number)
          : [...want.data as Float32Array],
        k,
      );
    }
    // the neck keeps its own init
    const after = await det.neck!.stateDict();
    for (const k of Object.keys(before)) assert.deepEqual(after[k].data, before[k].data, k);
    assert.deepEqual(logs, [`load backbone checkpoint from ${PTH} (prefix "backbone.")`]);
    // a prefix nothing starts with is refused, as mmcv's assertion
    m.backbone.init_cfg.prefix = "encoder";
    await assert.rejects(
      () => applyPretrained(det, new Config({ model: m }, "tiny.ts"), () => {}),
      /no key of .* starts with "encoder\." \(encoder\. is not in the pretrained model\)/,
    );
    det.dispose();
  },
);

gpuTest(
  "a torchvision-style backbone file: fc.* reported as unexpected, the rest loaded",
  async () => {
    const file = (await readPthCheckpoint(PTH)).stateDict;
    const tv: Record<string, (typeof file)[string]> = {};
    for (const [k, v] of Object.entries(file)) if (k.startsWith("backbone.")) tv[k.slice(9)] = v;
    tv["fc.weight"] = { dtype: "F32", shape: [10, 16], data: new Float32Array(160) };
    tv["fc.bias"] = { dtype: "F32", shape: [10], data: new Float32Array(10) };
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/resnet18-tiny.pth`;
      await Deno.writeFile(path, encodePthCheckpoint(tv));
      const m = tinyCfg();
      m.pretrained = path; // the deprecated spelling: the backbone's checkpoint
      const det = buildDetector(m) as SingleStageDetector;
      const logs: string[] = [];
      await applyPretrained(det, new Config({ model: m }, "tiny.ts"), (s) => logs.push(s));
      assert.equal(logs.length, 2);
      assert.equal(
        logs[1],
        "The model and loaded state dict do not match exactly\n\n" +
          "unexpected key in source state_dict: fc.weight, fc.bias\n",
      );
      const w = (await det.backbone.stateDict())["layer2.0.conv1.weight"];
      assert.deepEqual([...w.data as Float32Array], [
        ...tv["layer2.0.conv1.weight"].data as Float32Array,
      ]);
      det.dispose();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

gpuTest(
  "load_from a checkpoint with another head: mmcv's size-mismatch report; nothing matching is refused",
  async () => {
    const det = skipInit(() => buildDetector(tinyCfg(5))) as SingleStageDetector;
    const warn = console.warn;
    const warned: string[] = [];
    console.warn = (s: string) => warned.push(s);
    try {
      await loadWeights(det, PTH, false);
    } finally {
      console.warn = warn;
    }
    assert.equal(warned.length, 1);
    assert.match(
      warned[0],
      /^The model and loaded state dict do not match exactly\n\nsize mismatch for bbox_head\.retina_cls\.weight: copying a param with shape torch\.Size\(\[27, 8, 3, 3\]\) from checkpoint, the shape in current model is torch\.Size\(\[45, 8, 3, 3\]\)\.\nsize mismatch for bbox_head\.retina_cls\.bias/,
    );
    await assert.rejects(
      () => loadWeights(det, PTH, true),
      /Error\(s\) in loading state_dict ".*retinanet_tiny\.pth": The model/,
    );
    const dir = await Deno.makeTempDir();
    try {
      const other = `${dir}/other.pth`;
      await Deno.writeFile(
        other,
        encodePthCheckpoint({
          "encoder.w": { dtype: "F32", shape: [1], data: new Float32Array(1) },
        }),
      );
      await assert.rejects(
        () => loadWeights(det, other, false),
        /not one of its 1 entries matches the model's \d+ parameters and buffers/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
    det.dispose();
  },
);
