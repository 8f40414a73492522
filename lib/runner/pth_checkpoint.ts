/**
 * PyTorch checkpoints as wgdet checkpoints: `.pth` files (a bare state dict as torchvision and timm
 * ship them, or mmcv's `{meta, state_dict, optimizer}`) read through the restricted unpickler of
 * `lib/utils/pth/`, the model-zoo schemes `torchvision://NAME` and `open-mmlab://NAME` resolved to
 * the torch hub cache with mmcv's file names, and `.pth` writing for `deno task convert`.
 *
 * @module
 */
import { basename, dirname, join } from "../utils/path.ts";
import { platform } from "../platform/mod.ts";
import {
  type PthFile,
  type PthTensor,
  PthTensorRef,
  pthToFloat32,
  PyTuple,
  readPth,
  writePth,
} from "../utils/pth/pth.ts";
import { PthError } from "../utils/pth/zip.ts";
import type { CpuTensor, OptimizerState, StateDict } from "./types.ts";

/** File names read as PyTorch checkpoints. */
const PTH_EXT = /\.(pth|pt|pth\.tar|ckpt|bin)$/i;

/** True for a path or URL that names a PyTorch checkpoint (by extension or model-zoo scheme). */
export function isPthPath(path: string): boolean {
  return PTH_EXT.test(path) || /^(torchvision|open-mmlab|https?):\/\//.test(path);
}

// ---- model zoo -------------------------------------------------------------------------------

const TV = "https://download.pytorch.org/models/";
/** torchvision's ImageNet weights (`model_urls` of torchvision 0.12, which mmcv's json copies). */
const TORCHVISION: Record<string, string> = {
  resnet18: `${TV}resnet18-f37072fd.pth`,
  resnet34: `${TV}resnet34-b627a593.pth`,
  resnet50: `${TV}resnet50-0676ba61.pth`,
  resnet101: `${TV}resnet101-63fe2227.pth`,
  resnet152: `${TV}resnet152-394f9c45.pth`,
  resnext50_32x4d: `${TV}resnext50_32x4d-7cdf4587.pth`,
  resnext101_32x8d: `${TV}resnext101_32x8d-8ba56ff5.pth`,
  wide_resnet50_2: `${TV}wide_resnet50_2-95faca4d.pth`,
  wide_resnet101_2: `${TV}wide_resnet101_2-32ee1156.pth`,
  // torchvision ≥ 0.13 weight names mmcv also accepts
  "resnet50.imagenet1k_v2": `${TV}resnet50-11ad3fa6.pth`,
  "resnet101.imagenet1k_v2": `${TV}resnet101-cd907fc2.pth`,
  "resnet152.imagenet1k_v2": `${TV}resnet152-f82ba261.pth`,
};
for (const n of ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]) {
  TORCHVISION[`${n}.imagenet1k_v1`] = TORCHVISION[n];
}
for (const k of Object.keys(TORCHVISION)) {
  const m = /^resnet(\d+)\.imagenet1k_(v\d)$/.exec(k);
  if (m) TORCHVISION[`ResNet${m[1]}_Weights.IMAGENET1K_${m[2].toUpperCase()}`] = TORCHVISION[k];
}

const OM = "https://download.openmmlab.com/pretrain/third_party/";
/** mmcv's `open_mmlab.json` entries for the backbones wgdet builds (ResNet / ResNeXt families). */
const OPEN_MMLAB: Record<string, string> = {
  "vgg16_caffe": `${OM}vgg16_caffe-292e1171.pth`,
  "detectron/resnet50_caffe": `${OM}resnet50_caffe-788b5fa3.pth`,
  "detectron2/resnet50_caffe": `${OM}resnet50_msra-5891d200.pth`,
  "detectron/resnet101_caffe": `${OM}resnet101_caffe-3ad79236.pth`,
  "detectron2/resnet101_caffe": `${OM}resnet101_msra-6cc46731.pth`,
  "detectron2/resnext101_32x8d": `${OM}resnext101_32x8d-1516f1aa.pth`,
  "resnext50_32x4d": `${OM}resnext50-32x4d-0ab1a123.pth`,
  "resnext101_32x4d": `${OM}resnext101_32x4d-a5af3160.pth`,
  "resnext101_64x4d": `${OM}resnext101_64x4d-ee2c6f71.pth`,
  "contrib/resnet50_gn": `${OM}resnet50_gn_thangvubk-ad1730dd.pth`,
  "detectron/resnet50_gn": `${OM}resnet50_gn-9186a21c.pth`,
  "detectron/resnet101_gn": `${OM}resnet101_gn-cac0ab98.pth`,
  "jhu/resnet50_gn_ws": `${OM}resnet50_gn_ws-15beedd8.pth`,
  "jhu/resnet101_gn_ws": `${OM}resnet101_gn_ws-3e3c308c.pth`,
  "resnet18_v1c": `${OM}resnet18_v1c-b5776b93.pth`,
  "resnet50_v1c": `${OM}resnet50_v1c-2cccc1ad.pth`,
  "resnet101_v1c": `${OM}resnet101_v1c-e67eebb6.pth`,
};
/** mmcv's deprecated open-mmlab names. */
const OPEN_MMLAB_DEPRECATED: Record<string, string> = {
  resnet50_caffe: "detectron/resnet50_caffe",
  resnet50_caffe_bgr: "detectron2/resnet50_caffe",
  resnet101_caffe: "detectron/resnet101_caffe",
  resnet101_caffe_bgr: "detectron2/resnet101_caffe",
};

/** `$TORCH_HOME/hub/checkpoints` (TORCH_HOME defaults to `$XDG_CACHE_HOME/torch`, `~/.cache/torch`). */
export function torchHubCheckpointsDir(
  env: (k: string) => string | undefined = (k) => platform().env(k),
): string {
  const home = env("TORCH_HOME") ??
    join(env("XDG_CACHE_HOME") ?? join(env("HOME") ?? ".", ".cache"), "torch");
  return join(home, "hub", "checkpoints");
}

/**
 * The download URL and cache path of `torchvision://NAME`, `open-mmlab://NAME` or an http(s) URL
 * (cached under its file name, as `torch.hub.load_state_dict_from_url` and mmcv do).
 *
 * @throws {PthError} For an unknown model-zoo name, listing the known ones.
 */
export function resolveModelZoo(spec: string, dir: string = torchHubCheckpointsDir()): {
  url: string;
  path: string;
} {
  let url: string | undefined;
  const m = /^(torchvision|open-mmlab):\/\/(.+)$/.exec(spec);
  if (m) {
    const [, scheme, raw] = m;
    const table = scheme === "torchvision" ? TORCHVISION : OPEN_MMLAB;
    const name = scheme === "open-mmlab" ? OPEN_MMLAB_DEPRECATED[raw] ?? raw : raw;
    url = table[name];
    if (!url) {
      throw new PthError(
        `Cannot resolve checkpoint "${spec}": wgdet knows no ${scheme} model "${raw}" ` +
          `(known: ${Object.keys(table).join(", ")}); give a local .pth path instead`,
      );
    }
  } else if (/^https?:\/\//.test(spec)) url = spec;
  else throw new PthError(`Cannot resolve checkpoint "${spec}": not a model-zoo name or URL`);
  const file = basename(new URL(url).pathname);
  return { url, path: join(dir, file) };
}

/** Options of {@linkcode fetchCheckpoint} and {@linkcode localCheckpointPath}. */
export interface FetchOptions {
  /** Try to download a missing file (default true; `WGDET_OFFLINE=1` turns it off). */
  download?: boolean;
  /** Cache folder (default {@linkcode torchHubCheckpointsDir}). */
  dir?: string;
  /** Progress output (default: stderr, when it is a terminal or `WGDET_PROGRESS=1`). */
  progress?: (done: number, total: number | null) => void;
  /** Give up when no response comes within this many ms (default 30,000). */
  timeoutMs?: number;
}

/**
 * Downloads `url` to `path` (a temporary file, then a rename) and checks the SHA-256 prefix that
 * torchvision-style names carry (`resnet50-0676ba61.pth`: the digest starts with `0676ba61`).
 *
 * @throws {PthError} When the download fails (naming the URL and where to put the file by hand) or
 *   the digest does not match.
 */
export async function fetchCheckpoint(
  url: string,
  path: string,
  opts: FetchOptions = {},
): Promise<void> {
  const byHand = `download ${url} by hand and put it at ${path}`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000) });
  } catch (e) {
    throw new PthError(
      `Cannot download checkpoint ${url} (${
        (e as Error).message
      }): the network is unreachable; ${byHand}`,
    );
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new PthError(`Cannot download checkpoint ${url}: HTTP ${res.status}; ${byHand}`);
  }
  const total = Number(res.headers.get("content-length")) || null;
  const chunks: Uint8Array[] = [];
  let done = 0;
  const progress = opts.progress ?? defaultProgress(basename(path));
  try {
    for await (const c of res.body) {
      chunks.push(c);
      done += c.length;
      progress(done, total);
    }
  } catch (e) {
    throw new PthError(`Cannot download checkpoint ${url}: ${(e as Error).message}; ${byHand}`);
  }
  const bytes = new Uint8Array(done);
  let p = 0;
  for (const c of chunks) {
    bytes.set(c, p);
    p += c.length;
  }
  const m = /-([a-f0-9]+)\./.exec(basename(path));
  if (m) {
    const hex = [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))]
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    if (!hex.startsWith(m[1])) {
      throw new PthError(
        `Cannot use downloaded checkpoint ${url}: its SHA-256 ${
          hex.slice(0, 16)
        }… does not start ` +
          `with "${m[1]}" from its file name (a corrupt download); ${byHand}`,
      );
    }
  }
  await platform().mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.partial-${platform().pid}`;
  await platform().writeFile(tmp, bytes);
  await platform().rename(tmp, path);
}

function defaultProgress(name: string): (done: number, total: number | null) => void {
  const tty = platform().stderrIsTerminal() || platform().env("WGDET_PROGRESS") === "1";
  let last = -1;
  return (done, total) => {
    if (!tty) return;
    const pct = total ? Math.floor((100 * done) / total) : -1;
    if (pct === last && total) return;
    last = pct;
    const mb = (done / 2 ** 20).toFixed(1);
    const bar = total ? `[${"#".repeat(pct / 5).padEnd(20, ".")}] ${pct}%` : "";
    platform().writeStderr(`\rDownloading ${name}: ${bar} ${mb} MiB`);
    if (total && done >= total) platform().writeStderr("\n");
  };
}

/**
 * A local path for `spec`: itself for a file path; for `torchvision://`, `open-mmlab://` or a URL,
 * the cached file, downloaded when missing (unless `download` is off).
 *
 * @throws {PthError} When the file is absent and cannot be downloaded: names the URL and the path.
 */
export async function localCheckpointPath(spec: string, opts: FetchOptions = {}): Promise<string> {
  if (!/^(torchvision|open-mmlab|https?):\/\//.test(spec)) return spec;
  const { url, path } = resolveModelZoo(spec, opts.dir);
  if (await platform().stat(path).then((s) => s.isFile, () => false)) return path;
  const download = (opts.download ?? true) && platform().env("WGDET_OFFLINE") !== "1";
  if (!download) {
    throw new PthError(
      `Cannot load checkpoint "${spec}": ${path} does not exist and downloading is off: ` +
        `download ${url} and put it at ${path} (or set TORCH_HOME to the folder whose ` +
        `hub/checkpoints holds it)`,
    );
  }
  await fetchCheckpoint(url, path, opts);
  return path;
}

// ---- reading ---------------------------------------------------------------------------------

/** A checkpoint read from a `.pth` file. */
export interface PthCheckpoint {
  /** The state dict, mmdet key names (`module.` stripped unless `reviseKeys` is off). */
  stateDict: StateDict;
  /** `checkpoint["meta"]` as JSON-safe values (empty for a bare state dict). */
  meta: Record<string, unknown>;
  /** Whether the file had a `meta` entry (mmcv's resume needs it). */
  hasMeta: boolean;
  /**
   * `checkpoint["optimizer"]` in PyTorch's index form: state keys `"<param index>.<name>"`,
   * groups with their `params` index lists. {@linkcode remapTorchOptimizer} names them.
   */
  torchOptimizer?: OptimizerState;
  /** Conversions made (dtype changes), for the log. */
  notes: string[];
}

/** Options of {@linkcode readPthCheckpoint}. */
export interface ReadPthOptions {
  /** Strip a leading `module.` (mmcv's default `revise_keys`). Default true. */
  reviseKeys?: boolean;
  /** Also convert the optimizer state. Default true. */
  optimizer?: boolean;
}

/**
 * Reads a `.pth` checkpoint: mmcv's dict (`state_dict`, `meta`, `optimizer`) or a bare state dict
 * (torchvision, timm, `torch.save(model.state_dict())`). Floating tensors become float32 (fp16,
 * bf16 and fp64 with a note), integer tensors int64/int32, bool uint8.
 *
 * @throws {PthError} For a refused or corrupt file, or one without a state dict, naming it.
 */
export async function readPthCheckpoint(
  path: string,
  opts: ReadPthOptions = {},
): Promise<PthCheckpoint> {
  let bytes: Uint8Array;
  try {
    bytes = await platform().readFile(path);
  } catch (e) {
    if (platform().isNotFound(e)) {
      throw platform().notFound(`Cannot load checkpoint "${path}": file not found`);
    }
    throw e;
  }
  return pthToCheckpoint(await readPth(bytes, basename(path)), path, opts);
}

const isTensorMap = (v: unknown): v is Map<unknown, unknown> =>
  v instanceof Map && [...v.values()].some((x) => x instanceof PthTensorRef);

/** Converts a read `.pth` object (see {@linkcode readPthCheckpoint}). */
export function pthToCheckpoint(
  f: PthFile,
  path: string,
  opts: ReadPthOptions = {},
): PthCheckpoint {
  const top = f.value;
  const fail = (why: string) => new PthError(`Cannot load checkpoint "${path}": ${why}`);
  if (!(top instanceof Map)) {
    throw fail(
      `it holds a ${
        describe(top)
      }, not a state dict or a checkpoint dict (save model.state_dict(), ` +
        `not the model object)`,
    );
  }
  let sdV: unknown = top;
  let metaV: unknown = undefined;
  let optV: unknown = undefined;
  if (top.has("state_dict")) {
    sdV = top.get("state_dict");
    metaV = top.get("meta");
    optV = top.get("optimizer");
  } else if (!isTensorMap(top) && isTensorMap(top.get("model"))) sdV = top.get("model");
  if (!(sdV instanceof Map)) throw fail(`its "state_dict" is a ${describe(sdV)}, not a dict`);
  const notes: string[] = [];
  const converted = new Map<string, number>();
  const stateDict: StateDict = {};
  for (const [k, v] of sdV) {
    if (typeof k !== "string") throw fail(`a state-dict key is a ${describe(k)}, not a string`);
    if (!(v instanceof PthTensorRef)) {
      throw fail(`state-dict entry "${k}" is a ${describe(v)}, not a tensor`);
    }
    const key = opts.reviseKeys === false ? k : k.replace(/^module\./, "");
    if (key in stateDict) {
      throw fail(`state-dict key "${key}" appears twice (with and without "module.")`);
    }
    stateDict[key] = toCpu(f.tensor(v), converted);
  }
  for (const [d, n] of converted) {
    notes.push(`${n} ${d} tensor${n > 1 ? "s" : ""} of "${basename(path)}" converted to float32`);
  }
  const meta = metaV === undefined || metaV === null ? {} : toJson(metaV, path, "meta");
  const out: PthCheckpoint = {
    stateDict,
    meta: (meta && typeof meta === "object" && !Array.isArray(meta) ? meta : {}) as Record<
      string,
      unknown
    >,
    hasMeta: metaV instanceof Map,
    notes,
  };
  if (optV instanceof Map && opts.optimizer !== false) {
    out.torchOptimizer = torchOptimizer(f, optV, fail);
  }
  return out;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return "None";
  if (v instanceof PthTensorRef) return "tensor";
  if (v instanceof Map) return "dict";
  if (v instanceof PyTuple) return "tuple";
  if (Array.isArray(v)) return "list";
  return typeof v;
}

const DTYPE_NAME: Record<string, string> = { F16: "float16", BF16: "bfloat16", F64: "float64" };

function toCpu(t: PthTensor, converted: Map<string, number>): CpuTensor {
  switch (t.dtype) {
    case "F32":
      return { dtype: "F32", shape: t.shape, data: t.data as Float32Array };
    case "F16":
    case "BF16":
    case "F64":
      converted.set(DTYPE_NAME[t.dtype], (converted.get(DTYPE_NAME[t.dtype]) ?? 0) + 1);
      return { dtype: "F32", shape: t.shape, data: pthToFloat32(t) };
    case "I64":
      return { dtype: "I64", shape: t.shape, data: t.data as BigInt64Array };
    case "I32":
      return { dtype: "I32", shape: t.shape, data: t.data as Int32Array };
    case "I16":
    case "I8":
      return { dtype: "I32", shape: t.shape, data: Int32Array.from(t.data as Int16Array) };
    default: // U8, BOOL
      return { dtype: "U8", shape: t.shape, data: t.data as Uint8Array };
  }
}

/** Unpickled values → JSON-safe values, bounded in depth and size (DAG bombs fail fast). */
function toJson(v: unknown, path: string, where: string): unknown {
  let budget = 1_000_000;
  const fail = (why: string) =>
    new PthError(`Cannot load checkpoint "${path}": its ${where} ${why}`);
  const go = (x: unknown, depth: number): unknown => {
    if (--budget < 0) throw fail("has more than a million values (a pickle bomb?)");
    if (depth > 64) throw fail("is nested more than 64 levels deep (a pickle bomb?)");
    if (x === null || typeof x === "string" || typeof x === "boolean") return x;
    if (typeof x === "number") return Number.isFinite(x) ? x : String(x);
    if (typeof x === "bigint") return Number.isSafeInteger(Number(x)) ? Number(x) : String(x);
    if (x instanceof PyTuple) return x.items.map((y) => go(y, depth + 1));
    if (Array.isArray(x)) return x.map((y) => go(y, depth + 1));
    if (x instanceof Set) return [...x].map((y) => go(y, depth + 1));
    if (x instanceof Map) {
      const o: Record<string, unknown> = {};
      for (const [k, y] of x) {
        const j = go(y, depth + 1);
        if (j !== undefined) o[String(k)] = j;
      }
      return o;
    }
    return undefined; // tensors, bytes, globals: not meta
  };
  return go(v, 0);
}

function torchOptimizer(
  f: PthFile,
  opt: Map<unknown, unknown>,
  fail: (why: string) => PthError,
): OptimizerState {
  const state = opt.get("state");
  const groups = opt.get("param_groups");
  if (!(state instanceof Map) || !Array.isArray(groups)) {
    throw fail(`its "optimizer" is not a PyTorch optimizer state dict ({state, param_groups})`);
  }
  const out: OptimizerState = { state: {}, param_groups: [] };
  for (const [idx, s] of state) {
    if (typeof idx !== "number" || !(s instanceof Map)) throw fail("optimizer state is malformed");
    for (const [k, t] of s) {
      if (t instanceof PthTensorRef) {
        out.state[`${idx}.${String(k)}`] = toCpu(f.tensor(t), new Map());
      }
    }
  }
  for (const g of groups) {
    if (!(g instanceof Map)) throw fail("an optimizer param group is not a dict");
    out.param_groups.push(toJson(g, "optimizer", "param group") as Record<string, unknown>);
  }
  return out;
}

/**
 * Names the state of a PyTorch optimizer state dict: parameter index `i` of the groups' `params`
 * lists is `names[i]`, the i-th parameter in the order mmcv's optimizer constructor took them
 * (`model.parameters()`, which wgdet's optimizers keep). Group hyper-parameters are kept without
 * `params`.
 *
 * @throws {PthError} When the parameter counts or state shapes do not fit `names`/`shapes`.
 */
export function remapTorchOptimizer(
  s: OptimizerState,
  names: string[],
  shapes: number[][],
  path: string,
): OptimizerState {
  const fail = (why: string) =>
    new PthError(
      `Cannot resume the optimizer from "${path}": ${why}; resume with resume_optimizer=False ` +
        `(or use load_from for the weights)`,
    );
  const count = s.param_groups.reduce((a, g) => a + ((g.params as unknown[])?.length ?? 0), 0);
  if (count !== names.length) {
    throw fail(`its groups list ${count} parameters, the optimizer has ${names.length}`);
  }
  const state: StateDict = {};
  for (const [k, t] of Object.entries(s.state)) {
    const dot = k.indexOf(".");
    const i = Number(k.slice(0, dot));
    if (!(i >= 0 && i < names.length)) throw fail(`state of parameter index ${i} is out of range`);
    const want = shapes[i];
    if (t.shape.length && t.shape.join() !== want.join()) {
      throw fail(
        `state "${k.slice(dot + 1)}" of parameter ${i} (${names[i]}) has shape [${t.shape}], ` +
          `the parameter [${want}]`,
      );
    }
    state[`${names[i]}.${k.slice(dot + 1)}`] = t;
  }
  const param_groups = s.param_groups.map((g) => {
    const { params: _p, ...rest } = g;
    return rest;
  });
  return { state, param_groups };
}

// ---- writing ---------------------------------------------------------------------------------

/** A wgdet state-dict tensor as a `.pth` tensor (dtype kept). */
export function cpuToPthTensor(
  t: CpuTensor | { dtype: string; shape: number[]; data: unknown },
): PthTensor {
  const d = t.dtype as PthTensor["dtype"];
  const ok = ["F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"];
  if (!ok.includes(d)) throw new TypeError(`Cannot write a ${t.dtype} tensor to .pth`);
  return { dtype: d, shape: [...t.shape], data: t.data as PthTensor["data"] };
}

/**
 * Writes `{"meta": meta, "state_dict": OrderedDict}` (mmcv's checkpoint layout) or, without meta,
 * a bare `OrderedDict` state dict, in `torch.save`'s zip format.
 */
export function encodePthCheckpoint(
  stateDict: Record<string, CpuTensor | PthTensor>,
  meta?: Record<string, unknown> | null,
): Uint8Array<ArrayBuffer> {
  const sd = new Map(Object.entries(stateDict).map(([k, t]) => [k, cpuToPthTensor(t)]));
  if (!meta) return writePth(sd);
  return writePth(new Map<string, unknown>([["meta", meta], ["state_dict", sd]]) as never);
}

/** What {@linkcode loadPthAsCheckpoint} returns: a wgdet checkpoint plus the PyTorch extras. */
export interface LoadedPthCheckpoint {
  /** The state dict. */
  stateDict: StateDict;
  /** `checkpoint["meta"]`. */
  meta: Record<string, unknown>;
  /** The optimizer state in PyTorch's index form (see {@linkcode remapTorchOptimizer}). */
  torchOptimizer?: OptimizerState;
  /** Conversions made, for the log. */
  notes: string[];
  /** The local file read. */
  path: string;
}

/**
 * `loadCheckpoint` for `.pth` files and model-zoo names (`torchvision://resnet50`): resolves the
 * name to the hub cache (downloading when allowed), reads the file, and with `requireMeta` checks
 * that it is a whole mmcv checkpoint (`meta` with `epoch`/`iter`), as `resume_from` needs.
 */
export async function loadPthAsCheckpoint(
  spec: string,
  opts:
    & { requireMeta?: boolean; optimizer?: boolean; log?: (msg: string) => void }
    & ReadPthOptions
    & FetchOptions = {},
): Promise<LoadedPthCheckpoint> {
  const path = await localCheckpointPath(spec, opts);
  const ck = await readPthCheckpoint(path, opts);
  if (opts.requireMeta && !ck.hasMeta) {
    throw new PthError(
      `Cannot resume from "${path}": it is a bare state dict without mmcv's "meta" (epoch, iter); ` +
        `use load_from for weights only`,
    );
  }
  for (const n of ck.notes) (opts.log ?? console.warn)(`load checkpoint: ${n}`);
  return {
    stateDict: ck.stateDict,
    meta: ck.meta,
    torchOptimizer: ck.torchOptimizer,
    notes: ck.notes,
    path,
  };
}
