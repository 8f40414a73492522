// deno-lint-ignore-file no-import-prefix
/**
 * The third-party dependencies of wgdet's core, version-pinned, in one place; all of them run in
 * Deno and in browsers. Library code imports npm packages only through this module (the CLI's
 * through `deps_cli.ts`, the Deno platform's through `deps_deno.ts`) so that `mod.ts` stays
 * importable by URL and bundles for the browser.
 *
 * @module
 */
export { default as jpegJs } from "npm:jpeg-js@0.4.4";
