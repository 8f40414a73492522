/**
 * The `DATASETS` and `PIPELINES` registries (mmdet's `mmdet.datasets.builder`). Every dataset
 * and pipeline class file ends with its registration line.
 *
 * @module
 */
import { Registry } from "../utils/registry.ts";

/** Registry of dataset classes: `CocoDataset`, `XMLDataset`, `VOCDataset`, `CustomDataset`, … */
// deno-lint-ignore no-explicit-any
export const DATASETS: Registry<any> = new Registry("DATASETS");

/** Registry of pipeline transforms: `LoadImageFromFile`, `Resize`, `RandomFlip`, `Normalize`, … */
// deno-lint-ignore no-explicit-any
export const PIPELINES: Registry<any> = new Registry("PIPELINES");
