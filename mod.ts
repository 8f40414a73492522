/**
 * wgdet — anchor-based object detection (RetinaNet first) trained, evaluated and run in
 * TypeScript on Deno, with every tensor operation a WGSL compute shader on WebGPU. mmdetection's
 * design and numbers: registries, configs with `_base_`, a hook-driven runner, heads that own
 * anchors, targets and losses.
 *
 * Layers (each importable on its own): `core` (anchors, IoU, assigners, coders, NMS), `models`,
 * `datasets`, `evaluation`, `runner`, `config`, `apis`. The most used names are also exported
 * directly.
 *
 * @example
 * ```ts ignore
 * import { backward, F, initGpu, Tensor, tidy } from "./mod.ts";
 *
 * await initGpu(); // throws GpuUnavailableError (with the fix) when there is no adapter
 * const w = Tensor.from([0.5, -1, 2, 0], [2, 2], { requiresGrad: true });
 * const x = Tensor.from([1, 2, 3, 4], [2, 2]);
 * tidy(() => backward(F.sum(F.relu(F.matmul(x, w)))));
 * console.log(await w.grad!.toArray()); // Float32Array [4, 0, 6, 0]
 * ```
 *
 * @example Train, evaluate and run a detector from a config
 * ```ts ignore
 * import { inferImages, loadConfig, testDetector, trainDetector } from "./mod.ts";
 *
 * const cfg = await loadConfig("configs/retinanet/retinanet_r18_fpn_bccd.ts");
 * await trainDetector(cfg, { workDir: "work_dirs/bccd" });
 * await testDetector(cfg, "work_dirs/bccd/latest", { eval: ["mAP", "bbox"] });
 * await inferImages(cfg, "work_dirs/bccd/latest", ["a.jpg"], { outDir: "out" });
 * ```
 *
 * @module
 */

// ---- utils -------------------------------------------------------------------------------------
export { Registry, type TypedCfg } from "./lib/utils/registry.ts";
export {
  ConfigError,
  DataError,
  GpuUnavailableError,
  NonFiniteLossError,
} from "./lib/utils/errors.ts";
export { VERSION } from "./lib/utils/version.ts";
export { decodeSafetensors, encodeSafetensors } from "./lib/utils/safetensors.ts";

// ---- GPU runtime -------------------------------------------------------------------------------
export { type GpuInfo, type RequestDeviceOptions, requestGpuDevice } from "./lib/gpu/device.ts";
export {
  type Binding,
  type DispatchArgs,
  getGpu,
  Gpu,
  hasGpu,
  initGpu,
  type RuntimeStats,
} from "./lib/gpu/runtime.ts";
export { KernelError, type KernelSpec } from "./lib/gpu/kernel.ts";
export { type DType, type HostArray, RawTensor } from "./lib/gpu/raw_tensor.ts";
export type { PoolStats } from "./lib/gpu/pool.ts";
// per-adapter kernel tuning: time the conv2d variants for a shape class, keep and reuse the choice
export {
  type Conv2dGeometry,
  type ConvMode,
  tuneConv2d,
  type TuneConv2dOptions,
} from "./lib/ops/conv2d.ts";
export {
  clearTuning,
  exportTuning,
  importTuning,
  loadTuningCache,
  saveTuningCache,
} from "./lib/ops/tuning.ts";

// ---- tensors and autograd ----------------------------------------------------------------------
export { type GradNode, keep, Tensor, type TensorOptions, tidy } from "./lib/autograd/tensor.ts";
export {
  backward,
  type GradFn,
  isGradEnabled,
  noGrad,
  registerGradient,
} from "./lib/autograd/tape.ts";
/** Differentiable tensor functions (`F.add`, `F.matmul`, `F.sigmoid`, …), like `torch.nn.functional`. */
export * as F from "./lib/autograd/functional.ts";
/** Differentiable CNN functions: `conv2d`, `batchNorm2d`, `groupNorm`, `maxPool2d`, `interpolateNearest`. */
export * as cnn from "./lib/autograd/cnn.ts";
/** Fused differentiable detection losses (sigmoid focal, L1, smooth L1, cross-entropy, GIoU). */
export * as losses from "./lib/autograd/losses.ts";

// ---- nn ----------------------------------------------------------------------------------------
export {
  type HostTensor,
  type LoadStateDictOptions,
  type LoadStateDictResult,
  Module,
  ModuleList,
} from "./lib/nn/module.ts";
export {
  BatchNorm2d,
  Conv2d,
  ConvModule,
  GroupNorm,
  MaxPool2d,
  ReLU,
  Sequential,
  setSeed,
} from "./lib/nn/mod.ts";
export {
  biasInitWithProb,
  constantInit,
  kaimingInit,
  normalInit,
  xavierInit,
} from "./lib/nn/init.ts";

// ---- core: anchors, boxes, assignment, NMS -----------------------------------------------------
/** Anchors, IoU, assigners, samplers, box coders, NMS, `bbox2result`, `multiApply` (CPU references). */
export * as core from "./lib/core/mod.ts";
export {
  ANCHOR_GENERATORS,
  BBOX_ASSIGNERS,
  BBOX_CODERS,
  BBOX_SAMPLERS,
  IOU_CALCULATORS,
} from "./lib/core/registry.ts";
export { AnchorGenerator, LegacyAnchorGenerator } from "./lib/core/anchor/anchor_generator.ts";
export {
  DeltaXYWHBBoxCoder,
  LegacyDeltaXYWHBBoxCoder,
} from "./lib/core/bbox/coders/delta_xywh_bbox_coder.ts";
export { MaxIoUAssigner } from "./lib/core/bbox/assigners/max_iou_assigner.ts";
export type { AssignResult } from "./lib/core/bbox/assigners/assign_result.ts";
export { PseudoSampler } from "./lib/core/bbox/samplers/pseudo_sampler.ts";
export { bboxOverlaps } from "./lib/core/bbox/iou.ts";
export { batchedNms, nms } from "./lib/core/post_processing/nms.ts";
export { bbox2result } from "./lib/core/bbox/transforms.ts";

// ---- models ------------------------------------------------------------------------------------
/** Backbones, necks, heads, detectors and losses, with their registries and builders. */
export * as models from "./lib/models/mod.ts";
export { BACKBONES, DETECTORS, HEADS, LOSSES, NECKS } from "./lib/models/registry.ts";
export {
  buildBackbone,
  buildDetector,
  buildHead,
  buildLoss,
  buildNeck,
} from "./lib/models/builder.ts";
export { ResNet } from "./lib/models/backbones/resnet.ts";
export { FPN } from "./lib/models/necks/fpn.ts";
export { AnchorHead } from "./lib/models/dense_heads/anchor_head.ts";
export { RetinaHead } from "./lib/models/dense_heads/retina_head.ts";
export {
  BaseDetector,
  type BboxResult,
  type ImgMeta,
  parseLosses,
} from "./lib/models/detectors/base.ts";
export { SingleStageDetector } from "./lib/models/detectors/single_stage.ts";
export { RetinaNet } from "./lib/models/detectors/retinanet.ts";
// two-stage detection (Faster R-CNN)
export { FasterRCNN, TwoStageDetector } from "./lib/models/detectors/two_stage.ts";
export { StandardRoIHead } from "./lib/models/roi_heads/standard_roi_head.ts";
export { Shared2FCBBoxHead } from "./lib/models/roi_heads/bbox_heads/convfc_bbox_head.ts";
export { SingleRoIExtractor } from "./lib/models/roi_heads/roi_extractors/single_level_roi_extractor.ts";
export { Linear } from "./lib/nn/linear.ts";
export { roiAlign, roiAlignLevels } from "./lib/autograd/roi_align.ts";

// ---- evaluation and datasets -------------------------------------------------------------------
/** COCO-style (pycocotools semantics) and VOC-style mAP. */
export * as evaluation from "./lib/evaluation/mod.ts";
export { evaluateCoco, resultsToCocoJson, summarizeCoco } from "./lib/evaluation/coco_eval.ts";
export { evalMap } from "./lib/evaluation/voc_eval.ts";
/** Datasets, pipelines, the worker data loader and the synthetic shapes generator. */
export * as datasets from "./lib/datasets/mod.ts";
export { DATASETS, PIPELINES } from "./lib/datasets/registry.ts";
export { buildDataset } from "./lib/datasets/dataset_wrappers.ts";
export { CocoDataset } from "./lib/datasets/coco.ts";
export { VOCDataset } from "./lib/datasets/voc.ts";
export { CustomDataset } from "./lib/datasets/custom.ts";
export { buildDataloader, DataLoader } from "./lib/datasets/loader.ts";
export { ensureShapesDataset, generateShapesDataset } from "./lib/datasets/synthetic.ts";

// ---- runner ------------------------------------------------------------------------------------
/** The runner, hooks, LR schedules, optimizers, checkpoints, logging and the training plot. */
export * as runner from "./lib/runner/mod.ts";
export { HOOKS, OPTIMIZERS, RUNNERS } from "./lib/runner/registry.ts";
export { Hook } from "./lib/runner/hook.ts";
export { EpochBasedRunner } from "./lib/runner/epoch_based_runner.ts";
export { IterBasedRunner } from "./lib/runner/iter_based_runner.ts";
export { AdamW, SGD } from "./lib/runner/mod.ts";
export { buildOptimizer } from "./lib/runner/optimizers/builder.ts";
export { loadCheckpoint, saveCheckpoint } from "./lib/runner/checkpoint.ts";

// ---- config and APIs ---------------------------------------------------------------------------
export { applyCfgOptions, Config, dumpConfig, loadConfig } from "./lib/config/mod.ts";
export { trainDetector, type TrainDetectorOptions, type TrainResult } from "./lib/apis/train.ts";
export { singleGpuTest, testDetector, type TestDetectorOptions } from "./lib/apis/test.ts";
export { type ImageDetections, inferImages, type InferOptions } from "./lib/apis/infer.ts";

// ---- types that appear in the signatures above ---------------------------------------------------
export type { Ctor } from "./lib/utils/registry.ts";
export type {
  SafetensorsData,
  SafetensorsDtype,
  SafetensorsFile,
  SafetensorsTensor,
} from "./lib/utils/safetensors.ts";
export type { Rng } from "./lib/utils/rng.ts";
export type { BufferPool, PooledBuffer } from "./lib/gpu/pool.ts";
export type { CompiledKernel, PipelineCache } from "./lib/gpu/kernel.ts";
export type { Forward1, MaxPool2dOptions } from "./lib/nn/layers.ts";
export type { ConvCfg } from "./lib/nn/conv.ts";
export type { NormCfg, NormLayer } from "./lib/nn/norm.ts";
export type { KaimingInitOptions, Nonlinearity, WeightedLayer } from "./lib/nn/init.ts";
export type { FeatmapSize } from "./lib/core/anchor/anchor_generator.ts";
export type { AssignInputs, BaseAssigner } from "./lib/core/bbox/assigners/base_assigner.ts";
export type { BaseBBoxCoder, DecodeOptions } from "./lib/core/bbox/coders/base_bbox_coder.ts";
export type { BaseSampler } from "./lib/core/bbox/samplers/base_sampler.ts";
export type { SamplingResult } from "./lib/core/bbox/samplers/sampling_result.ts";
export type { BboxOverlaps2D, BboxOverlapsOptions, IouMode } from "./lib/core/bbox/iou.ts";
export type { BatchedNmsCfg, NmsCfg, NmsResult } from "./lib/core/post_processing/nms.ts";
export type { BuildDetectorOptions } from "./lib/models/builder.ts";
export type { ExtraConvsSource } from "./lib/models/necks/fpn.ts";
export type { Loss, LossForwardOptions, Reduction } from "./lib/models/losses/utils.ts";
export type {
  AnchorHeadCfg,
  GetBboxesOptions,
  HeadLosses,
} from "./lib/models/dense_heads/anchor_head.ts";
export type {
  AnchorHeadTrainCfg,
  AnchorSet,
  BatchTargets,
  LevelTargets,
} from "./lib/models/dense_heads/anchor_head_targets.ts";
export type {
  AnchorHeadTestCfg,
  InferenceSettings,
} from "./lib/models/dense_heads/anchor_head_inference.ts";
export type {
  DetBatch,
  LossDict,
  StepOutput,
  TestOptions,
  TrainKwargs,
} from "./lib/models/detectors/base.ts";
export type {
  DenseHead,
  FeatureModule,
  HeadDetections,
} from "./lib/models/detectors/single_stage.ts";
export type {
  BboxResult as EvalBboxResult,
  CocoAnnotation,
  CocoCategory,
  CocoEvalOptions,
  CocoEvalResult,
  CocoImage,
  CocoJson,
  CocoResult,
} from "./lib/evaluation/coco_eval.ts";
export type {
  ClassMapResult,
  EvalMapOptions,
  EvalMapResult,
  MapAnnotation,
} from "./lib/evaluation/voc_eval.ts";
export type {
  AnnInfo,
  Batch,
  DataInfo,
  HostTensor as DatasetHostTensor,
  ImgMeta as DatasetImgMeta,
  ImgNormCfg,
  Results,
} from "./lib/datasets/types.ts";
export type { HwcImage } from "./lib/datasets/image_io.ts";
export type { DatasetCfg, EvaluateOptions } from "./lib/datasets/custom.ts";
export type { DetDataset } from "./lib/datasets/dataset_wrappers.ts";
export type { Compose, Transform } from "./lib/datasets/pipelines/compose.ts";
export type { XMLDataset } from "./lib/datasets/xml_style.ts";
export type { DataloaderOptions } from "./lib/datasets/loader.ts";
export type { ShapesDatasetInfo, ShapesOptions } from "./lib/datasets/synthetic.ts";
export type {
  Backwardable,
  CpuTensor,
  LazyScalar,
  LogValue,
  Optimizer,
  OptimizerState,
  ParamGroup,
  RunnerDataLoader,
  RunnerModel,
  StateDict,
  TrainStepOutput,
} from "./lib/runner/types.ts";
export { HOOK_STAGES, type HookResult, type HookStage } from "./lib/runner/hook.ts";
export type {
  BaseRunner,
  HookSpec,
  SaveCheckpointCall,
  TrainingHooksCfg,
  WorkflowEntry,
} from "./lib/runner/base_runner.ts";
export type { LogBuffer, NonFiniteRecord } from "./lib/runner/log_buffer.ts";
export type { IterLoader } from "./lib/runner/iter_based_runner.ts";
export type { RunnerLogger } from "./lib/runner/logger.ts";
export type { GpuOptimizer, OptimEntry } from "./lib/runner/optimizers/base.ts";
export type {
  Checkpoint,
  CheckpointMeta,
  LoadCheckpointOptions,
  SaveCheckpointOptions,
} from "./lib/runner/checkpoint.ts";
export type { CfgDict, CfgValue } from "./lib/config/config.ts";
export type { ApplyCfgOptionsOptions } from "./lib/config/cfg_options.ts";
export type { DumpOptions } from "./lib/config/dump.ts";
export type { SingleGpuTestOptions } from "./lib/apis/test.ts";

// ---- data-parallel training on MPI (lib/dist, lib/apis/distributed.ts) ----
export {
  abortDist,
  allGather,
  allGatherJson,
  allReduce,
  barrier,
  broadcast,
  broadcastBytes,
  DistError,
  type DistInfo,
  DistUnavailableError,
  finalizeDist,
  getDistInfo,
  initDist,
  type InitDistOptions,
  isMainProcess,
  type Launcher,
} from "./lib/dist/mod.ts";
export {
  broadcastModel,
  type DistParams,
  distParams,
  DistributedRunnerModel,
  GradientAllReducer,
  type GradientAllReducerOptions,
  multiGpuTest,
} from "./lib/apis/distributed.ts";
export {
  distributedGroupSamplerIndices,
  distributedGroupSamplerLength,
  distributedSamplerIndices,
} from "./lib/datasets/dist_samplers.ts";

// ---- PyTorch .pth weights: safe reading, writing, model zoo, Pretrained init, convert ----
export {
  halfToFloat,
  type PthData,
  type PthDtype,
  PthError,
  type PthFile,
  type PthStorageRef,
  type PthTensor,
  PthTensorRef,
  pthToFloat32,
  type PthValue,
  PyTuple,
  readPth,
  writePth,
} from "./lib/utils/pth/pth.ts";
export {
  encodePthCheckpoint,
  fetchCheckpoint,
  type FetchOptions,
  isPthPath,
  type LoadedPthCheckpoint,
  loadPthAsCheckpoint,
  localCheckpointPath,
  type PthCheckpoint,
  readPthCheckpoint,
  type ReadPthOptions,
  remapTorchOptimizer,
  resolveModelZoo,
  torchHubCheckpointsDir,
} from "./lib/runner/pth_checkpoint.ts";
export { convertCheckpoint, type ConvertResult } from "./lib/runner/convert.ts";
export {
  type LoadReport,
  type LoadReportOptions,
  loadStateDictReport,
} from "./lib/nn/load_report.ts";
export { applyPretrained, type PretrainedInit, pretrainedInits } from "./lib/apis/pretrained.ts";

// ---- honest runtime keys, results files, TensorBoard (issue 14) ----
export {
  applyAutoScaleLr,
  checkRuntimeKeys,
  type KeyHandling,
  prepareRun,
  type PrepareRunOptions,
  TOP_LEVEL_KEY_HANDLING,
} from "./lib/apis/runtime_keys.ts";
export { ensureSyntheticData } from "./lib/apis/synthetic_data.ts";
export {
  checkTestOptions,
  readResults,
  type TestOutputOptions,
  writeResults,
} from "./lib/apis/results_io.ts";
export { formatCocoResults } from "./lib/apis/test.ts";
export { createProgress, type Progress, type ProgressOptions } from "./lib/apis/progress.ts";
export { importCustomModules } from "./lib/config/custom_imports.ts";
export {
  NdArray,
  pickleDumps,
  pickleLoads,
  type PickleValue,
  PyTuple as PickleTuple,
} from "./lib/utils/pickle.ts";
export { EventFileWriter, readEventFile } from "./lib/utils/tfevents.ts";
export { renderCurvesSvg } from "./lib/runner/plot_svg.ts";
