/**
 * The platform of the browser build (`web/import_map.json` maps `default.ts` here).
 *
 * @module
 */
export { browserPlatform as defaultPlatform } from "./browser.ts";
