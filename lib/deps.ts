// deno-lint-ignore-file no-import-prefix
/**
 * Every third-party dependency of wgdet, version-pinned, in one place. Library code imports npm
 * packages only through this module so that `mod.ts` stays importable by URL.
 *
 * @module
 */
export { default as jpegJs } from "npm:jpeg-js@0.4.4";
export { PNG } from "npm:pngjs@7.0.0";
// @ts-types="npm:@types/cli-progress@3.11.6"
export { default as cliProgress } from "npm:cli-progress@3.12.0";
export {
  Command,
  CommanderError,
  InvalidArgumentError,
  Option,
} from "npm:@commander-js/extra-typings@15.1.0";
// extra-typings wraps commander; pin the wrapped version too
export type { OptionValues } from "npm:commander@15.1.0";
