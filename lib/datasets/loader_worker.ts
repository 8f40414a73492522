/**
 * The data loader's Web Worker: rebuilds the dataset from its config, then prepares whole
 * batches (pipeline + collation) on request and transfers their buffers back.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import type { TypedCfg } from "../utils/registry.ts";
import { batchTransferables, collate } from "./collate.ts";
import { sampleRng } from "./custom.ts";
import { buildDataset, type DetDataset } from "./dataset_wrappers.ts";
// registers every built-in dataset and pipeline
import "./mod.ts";

let dataset: DetDataset | null = null;

function wire(e: unknown): { name: string; message: string; stack?: string } {
  if (e instanceof Error) return { name: e.name, message: e.message, stack: e.stack };
  return { name: "DataError", message: String(e) };
}

self.onmessage = async (ev: MessageEvent) => {
  const msg = ev.data as Record<string, unknown> & { id: number; type: string };
  try {
    if (msg.type === "init") {
      for (const url of (msg.imports as string[]) ?? []) await import(url);
      dataset = buildDataset(msg.cfg as TypedCfg);
      self.postMessage({ id: msg.id, ok: true, value: dataset.length });
    } else if (msg.type === "batch") {
      if (!dataset) throw new RangeError("The loader worker got a batch request before init");
      const indices = msg.indices as number[];
      const first = msg.firstPosition as number;
      const items = indices.map((idx, j) =>
        dataset!.getItem(idx, sampleRng(msg.seed as number, msg.epoch as number, first + j))
      );
      const batch = collate(items, indices, msg.padValue as number);
      self.postMessage({ id: msg.id, ok: true, value: batch }, batchTransferables(batch));
    } else throw new RangeError(`The loader worker got an unknown message type "${msg.type}"`);
  } catch (e) {
    self.postMessage({ id: msg.id, ok: false, error: wire(e) });
  }
};
