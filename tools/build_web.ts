/**
 * `deno task build:web`: bundles `web.ts` for browsers into `web/dist/wgdet.js` (one ES module,
 * WGSL inlined, npm dependencies bundled, the browser platform chosen by `web/import_map.json`).
 *
 * @module
 */
import { parseCli } from "./_args.ts";
import { buildWeb } from "./serve_web.ts";

const HELP = `Usage: deno task build:web

Bundles web.ts for browsers into web/dist/wgdet.js: one ES module with the WGSL kernels inlined,
no node: imports and no Deno.* (the browser platform comes from web/import_map.json). The demo
page (deno task serve) loads it; your own page can import it the same way.

Options:
  -h, --help   print this help and exit`;

await parseCli({ usage: HELP, options: {} });
await buildWeb();
console.log("wrote web/dist/wgdet.js");
