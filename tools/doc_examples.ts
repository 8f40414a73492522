/**
 * The JSDoc examples `deno task test` runs (`deno test --doc`): every file of `lib/`, `kernels/gen/`
 * and `mod.ts` with an `@example` ({@linkcode docExampleFiles}). Examples that need a GPU adapter
 * ({@linkcode GPU_EXAMPLE_FILES}) are left out when there is none. An example fenced as
 * `ts ignore` is not run; each one is listed in {@linkcode EXAMPLES_NOT_RUN} with the reason
 * (`tests/architecture/doc_examples_test.ts` fails on an unlisted or stale entry).
 *
 * @module
 */

const root = new URL("../", import.meta.url);

/** Files whose runnable examples use the GPU runtime (skipped without an adapter). */
export const GPU_EXAMPLE_FILES: readonly string[] = [
  "lib/autograd/tensor.ts",
  "lib/ops/bbox.ts",
  "lib/ops/nms.ts",
];

/**
 * Examples not run, as `file#export` (the declaration the example documents, or `module` for a
 * module's own doc), with the reason.
 */
export const EXAMPLES_NOT_RUN: Readonly<Record<string, string>> = {
  "mod.ts#module": "a whole training run (config, dataset on disk, minutes of GPU time)",
  "lib/nn/linear.ts#Linear": "fragment: x is a RoI head's pooled features",
  "lib/models/roi_heads/roi_extractors/single_level_roi_extractor.ts#SingleRoIExtractor":
    "fragment: x (FPN levels) and rois come from a two-stage detector's forward",
  "lib/autograd/losses.ts#sigmoidFocalLoss": "fragment: pred/target tensors come from a model",
  "lib/config/config.ts#loadConfig": "reads a config file relative to the working directory",
  "lib/config/mod.ts#module": "writes merged.ts into the working directory",
  "lib/datasets/custom.ts#CustomDataset": "reads images under data/",
  "lib/datasets/dataset_wrappers.ts#buildDataset": "reads a COCO dataset from disk",
  "lib/datasets/image_io.ts#decodeImage": "reads a.jpg from the working directory",
  "lib/datasets/loader.ts#buildDataloader": "fragment: needs a dataset",
  "lib/datasets/pipelines/compose.ts#Compose": "reads data/a.jpg",
  "lib/datasets/synthetic.ts#generateShapesDataset": "writes a dataset under /tmp",
  "lib/datasets/synthetic.ts#shapesDatasetConfig":
    "fragment: needs a generated dataset and a pipeline",
  "lib/datasets/voc2coco.ts#vocToCoco": "reads the BCCD dataset from disk",
  "lib/dist/dist.ts#initDist": "needs an MPI launch (several processes)",
  "lib/models/backbones/resnet.ts#ResNet": "fragment: builds ResNet-50 (slow on a CPU adapter)",
  "lib/models/dense_heads/anchor_head.ts#AnchorHead": "fragment: needs FPN features",
  "lib/models/dense_heads/retina_head.ts#RetinaHead": "fragment: needs FPN features",
  "lib/models/dense_heads/rpn_head.ts#RPNHead": "fragment: needs FPN features",
  "lib/models/detectors/retinanet.ts#RetinaNet": "fragment: needs a config and images",
  "lib/models/losses/cross_entropy_loss.ts#CrossEntropyLoss": "fragment: needs logits and labels",
  "lib/models/losses/focal_loss.ts#FocalLoss": "fragment: needs logits and labels",
  "lib/models/losses/smooth_l1_loss.ts#L1Loss": "fragment: needs predictions and targets",
  "lib/models/mod.ts#module": "fragment: needs a config",
  "lib/nn/conv.ts#Conv2d": "fragment: x is not defined",
  "lib/nn/conv_module.ts#ConvModule": "fragment: shows the state keys only",
  "lib/nn/norm.ts#buildNormLayer": "fragment: shows the returned name only",
  "lib/runner/epoch_based_runner.ts#EpochBasedRunner":
    "fragment: needs a model, optimizer and loader",
  "lib/runner/mod.ts#module": "fragment: needs a model, optimizer and loader",
};

async function* walk(dir: URL): AsyncGenerator<URL> {
  for await (const e of Deno.readDir(dir)) {
    const u = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
    if (e.isDirectory) yield* walk(u);
    else if (e.name.endsWith(".ts")) yield u;
  }
}

/** One example: its file, the export it documents and whether it is fenced `ignore`. */
export interface DocExample {
  /** Path relative to the repository root. */
  file: string;
  /** The documented declaration's name, or `module`. */
  name: string;
  /** Fenced as `ts ignore` (not run). */
  ignored: boolean;
}

/** Every `@example` code block of `lib/`, `kernels/gen/` and `mod.ts`. */
export async function docExamples(): Promise<DocExample[]> {
  const files = [new URL("mod.ts", root)];
  for (const d of ["lib/", "kernels/gen/"]) {
    for await (const f of walk(new URL(d, root))) files.push(f);
  }
  const out: DocExample[] = [];
  for (const f of files) {
    const src = await Deno.readTextFile(f);
    if (!src.includes("@example")) continue;
    const file = f.pathname.slice(root.pathname.length);
    for (
      const m of src.matchAll(
        /\/\*\*([\s\S]*?)\*\/\s*(?:export\s+)?(?:declare\s+)?(?:default\s+)?(?:abstract\s+)?(?:async\s+)?(?:function\*?|class|const|let|interface|type|enum)?\s*(\w+)?/g,
      )
    ) {
      const doc = m[1];
      if (!doc.includes("@example")) continue;
      const name = /@module/.test(doc) ? "module" : m[2] ?? "module";
      for (const fence of doc.matchAll(/```(\w+)([^\n]*)/g)) {
        if (!/^(ts|typescript|js|javascript)$/.test(fence[1])) continue;
        out.push({ file, name, ignored: /\bignore\b/.test(fence[2]) });
      }
    }
  }
  return out;
}

/** The files to pass to `deno test --doc` (without the GPU ones when `gpu` is false). */
export async function docExampleFiles(gpu: boolean): Promise<string[]> {
  const files = new Set((await docExamples()).filter((e) => !e.ignored).map((e) => e.file));
  return [...files].filter((f) => gpu || !GPU_EXAMPLE_FILES.includes(f)).sort();
}
