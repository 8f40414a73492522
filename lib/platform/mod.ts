/**
 * The host platform: {@linkcode platform} returns the implementation every other module uses
 * (Deno's by default; the browser build links `default_browser.ts` in place of `default.ts`
 * through `web/import_map.json`, so no module sniffs for its platform).
 *
 * @module
 */
import { defaultPlatform } from "./default.ts";
import type { Platform } from "./types.ts";

export type { Platform, PlatformDirEntry, PlatformFileInfo, RgbaImage } from "./types.ts";

let current: Platform = defaultPlatform;

/** The platform in use. */
export function platform(): Platform {
  return current;
}

/** Replaces the platform (tests, embedders); returns the previous one. */
export function setPlatform(p: Platform): Platform {
  const prev = current;
  current = p;
  return prev;
}
