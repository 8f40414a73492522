/**
 * `deno task convert IN OUT`: PyTorch `.pth` ↔ safetensors, tensor by tensor with key names and
 * dtypes kept, so that a model trained in mmdetection loads here and one trained here loads in
 * mmdetection (`torch.load(f, weights_only=True)` accepts the `.pth` written). An mmcv checkpoint's
 * `meta` goes to the wgdet meta file `OUT.json` and back; optimizer state is not converted (it is
 * keyed by parameter index in PyTorch and by name here) and is reported as dropped.
 *
 * @module
 */
import { basename, dirname } from "../utils/path.ts";
import { platform } from "../platform/mod.ts";
import { type PthTensor, PthTensorRef, PyTuple, readPth } from "../utils/pth/pth.ts";
import { PthError } from "../utils/pth/zip.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type SafetensorsTensor,
} from "../utils/safetensors.ts";
import { checkpointFiles, WGDET_VERSION, writeFileAtomic } from "./checkpoint.ts";
import { encodePthCheckpoint } from "./pth_checkpoint.ts";

/** What {@linkcode convertCheckpoint} did. */
export interface ConvertResult {
  /** Files written. */
  written: string[];
  /** Tensors converted. */
  tensors: number;
  /** Things not carried over (optimizer state) and other remarks. */
  notes: string[];
}

const isPth = (p: string) => /\.(pth|pt|pth\.tar|ckpt|bin)$/i.test(p);
const isSt = (p: string) => p.endsWith(".safetensors");

/** Unpickled meta → JSON (bounded), tensors and bytes dropped. */
function metaJson(v: unknown, depth = 0): unknown {
  if (depth > 64) throw new PthError("meta is nested more than 64 levels deep");
  if (v === null || typeof v === "string" || typeof v === "boolean") return v;
  if (typeof v === "number") return Number.isFinite(v) ? v : String(v);
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : String(v);
  if (v instanceof PyTuple) return v.items.map((x) => metaJson(x, depth + 1));
  if (Array.isArray(v)) return v.map((x) => metaJson(x, depth + 1));
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v) {
      const j = metaJson(x, depth + 1);
      if (j !== undefined) o[String(k)] = j;
    }
    return o;
  }
  return undefined;
}

/**
 * Converts `input` (`.pth` or `.safetensors`) to `output` (the other format).
 *
 * @throws {TypeError} For extensions that are not one of each format.
 * @throws {PthError} For a refused or corrupt `.pth`.
 */
export async function convertCheckpoint(input: string, output: string): Promise<ConvertResult> {
  const notes: string[] = [];
  if (isPth(input) && isSt(output)) {
    const f = await readPth(await platform().readFile(input), basename(input));
    const top = f.value;
    if (!(top instanceof Map)) {
      throw new PthError(
        `Cannot convert "${input}": it holds no state dict (save model.state_dict())`,
      );
    }
    const sd = top.has("state_dict") ? top.get("state_dict") : top;
    if (!(sd instanceof Map)) {
      throw new PthError(`Cannot convert "${input}": "state_dict" is not a dict`);
    }
    const tensors: Record<string, SafetensorsTensor> = {};
    for (const [k, v] of sd) {
      if (typeof k !== "string" || !(v instanceof PthTensorRef)) {
        throw new PthError(
          `Cannot convert "${input}": state-dict entry "${String(k)}" is not a tensor`,
        );
      }
      const t = f.tensor(v);
      tensors[k] = { dtype: t.dtype, shape: t.shape, data: t.data };
    }
    if (top.has("optimizer")) {
      notes.push(`the optimizer state of "${input}" is not converted (weights and meta only)`);
    }
    const files = checkpointFiles(output);
    const bytes = encodeSafetensors(tensors, {
      format: "pt",
      wgdet_version: WGDET_VERSION,
      converted_from: basename(input),
    });
    await writeFileAtomic(files.weights, bytes);
    const written = [files.weights];
    if (top.has("state_dict") && top.get("meta") instanceof Map) {
      const record = {
        meta: metaJson(top.get("meta")),
        optimizer: null,
        weights: basename(files.weights),
        weights_bytes: bytes.length,
      };
      await writeFileAtomic(files.meta, JSON.stringify(record, null, 1) + "\n");
      written.push(files.meta);
    } else {
      await platform().remove(files.meta).catch(() => {}); // no stale meta beside new weights
    }
    return { written, tensors: Object.keys(tensors).length, notes };
  }
  if (isSt(input) && isPth(output)) {
    const st = decodeSafetensors(await platform().readFile(input), input);
    const files = checkpointFiles(input);
    let meta: Record<string, unknown> | null = null;
    try {
      const rec = JSON.parse(await platform().readTextFile(files.meta));
      if (rec && typeof rec.meta === "object" && rec.meta) meta = rec.meta;
      if (rec?.optimizer) {
        notes.push(`the optimizer state "${rec.optimizer.file}" is not converted`);
      }
    } catch (e) {
      if (!platform().isNotFound(e)) {
        throw new SyntaxError(`Cannot convert "${input}": its meta "${files.meta}" is not JSON`);
      }
    }
    const sd: Record<string, PthTensor> = {};
    for (const [k, t] of Object.entries(st.tensors)) {
      if (t.dtype === "U64" || t.dtype === "U32" || t.dtype === "U16") {
        throw new TypeError(
          `Cannot convert "${input}": tensor "${k}" is ${t.dtype}, which PyTorch has no storage for`,
        );
      }
      sd[k] = {
        dtype: t.dtype as PthTensor["dtype"],
        shape: t.shape,
        data: t.data as PthTensor["data"],
      };
    }
    await platform().mkdir(dirname(output) || ".", { recursive: true });
    await writeFileAtomic(output, encodePthCheckpoint(sd, meta));
    return { written: [output], tensors: Object.keys(sd).length, notes };
  }
  throw new TypeError(
    `Cannot convert "${input}" to "${output}": convert .pth (.pt, .pth.tar, .ckpt, .bin) to ` +
      `.safetensors or .safetensors to .pth`,
  );
}

/** The `--help` text of `deno task convert`. */
export const CONVERT_HELP = `Usage: deno task convert IN OUT

Converts a checkpoint between PyTorch's .pth and safetensors, keeping key names and dtypes:
  IN.pth          -> OUT.safetensors (+ OUT.json with mmcv's meta when IN has one)
  IN.safetensors  -> OUT.pth          (mmcv's {meta, state_dict} when IN has a .json meta,
                                       else a bare state dict; loads with
                                       torch.load(OUT, weights_only=True))
.pth files are read without running any code from them (an allowlist unpickler).
Optimizer state is not converted.

Options:
  -h, --help  show this help
`;

/** CLI entry: `convert IN OUT`; returns the exit code. */
export async function convertMain(args: string[]): Promise<number> {
  if (args.includes("-h") || args.includes("--help")) {
    console.log(CONVERT_HELP);
    return 0;
  }
  if (args.length !== 2 || args.some((a) => a.startsWith("-"))) {
    console.error(`convert: expected IN OUT, got ${args.length} argument(s)\n\n${CONVERT_HELP}`);
    return 2;
  }
  try {
    const r = await convertCheckpoint(args[0], args[1]);
    for (const n of r.notes) console.error(`note: ${n}`);
    console.log(`converted ${r.tensors} tensors: ${r.written.join(", ")}`);
    return 0;
  } catch (e) {
    console.error(`convert: ${(e as Error).message}`);
    return 1;
  }
}
