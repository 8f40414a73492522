// deno-lint-ignore-file no-import-prefix
/**
 * Third-party dependencies of the Deno platform only (`lib/platform/deno.ts`); the browser build
 * never imports them (pngjs needs Node's `zlib`/`stream`).
 *
 * @module
 */
export { PNG } from "npm:pngjs@7.0.0";
