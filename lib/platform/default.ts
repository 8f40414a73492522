/**
 * The platform of a plain import: Deno's. The browser build maps this module to
 * `default_browser.ts` (see `web/import_map.json`).
 *
 * @module
 */
export { denoPlatform as defaultPlatform } from "./deno.ts";
