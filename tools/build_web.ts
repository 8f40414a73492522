/**
 * `deno task build:web`: bundles `web.ts` for browsers into `web/dist/wgdet.js` (one ES module,
 * WGSL inlined, npm dependencies bundled, the browser platform chosen by `web/import_map.json`).
 *
 * @module
 */
import { buildWeb } from "./serve_web.ts";

const HELP = `Usage: deno task build:web

Bundles web.ts for browsers into web/dist/wgdet.js: one ES module with the WGSL kernels inlined,
no node: imports and no Deno.* (the browser platform comes from web/import_map.json). The demo
page (deno task serve) loads it; your own page can import it the same way.

Options:
  -h, --help   print this help and exit`;

if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
  console.log(HELP);
  Deno.exit(0);
}
if (Deno.args.length) {
  console.error(`error: unexpected argument "${Deno.args[0]}" (see deno task build:web --help)`);
  Deno.exit(2);
}
await buildWeb();
console.log("wrote web/dist/wgdet.js");
