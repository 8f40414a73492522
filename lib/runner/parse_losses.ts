/**
 * mmdet's `_parse_losses` for the runner; the implementation lives in `lib/utils/parse_losses.ts`
 * so that detectors (which cannot import the runner) use the same key logic.
 *
 * @module
 */
export * from "../utils/parse_losses.ts";
