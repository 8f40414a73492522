// deno-lint-ignore-file no-import-prefix
/**
 * Every third-party dependency of wgdet, version-pinned, in one place. Library code imports npm
 * packages only through this module so that `mod.ts` stays importable by URL.
 *
 * @module
 */
export { default as jpegJs } from "npm:jpeg-js@0.4.4";
export { PNG } from "npm:pngjs@7.0.0";
