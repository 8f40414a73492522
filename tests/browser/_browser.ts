/**
 * Shared setup of the browser tests: one headless Chromium per test file, a static server on the
 * repository root with the browser bundle (built once per process, in memory) at `/wgdet.js`,
 * and a page whose `window.wgdet` is that bundle. Without Chromium the tests are skipped with
 * a message saying how to get it.
 */
import {
  Browser,
  findChromium,
  type Page,
  probeAdapter,
  serveStatic,
} from "../../tools/chromium.ts";
import type { PageAdapter, StaticServer } from "../../tools/chromium.ts";
import { buildWeb } from "../../tools/serve_web.ts";

export const ROOT = new URL("../../", import.meta.url).pathname;
export const CHROMIUM = findChromium();

/** `Deno.test`'s `ignore`, with the reason printed once. */
export const NO_CHROMIUM = (() => {
  if (CHROMIUM) return false;
  console.warn(
    "browser tests skipped: no Chromium (apt-get install chromium, or set CHROMIUM=/path/to/chrome)",
  );
  return true;
})();

/** A browser, a server and one page, opened once per test file. */
export interface BrowserSession {
  browser: Browser;
  server: StaticServer;
  page: Page;
  adapter: PageAdapter;
  close(): Promise<void>;
}

/**
 * Starts Chromium, opens `path` (default a blank page) from the server, and checks for a WebGPU
 * adapter; a launch whose tab gets none is retried once with a fresh browser.
 */
export async function openSession(
  path = "__blank.html",
  files = new Map<string, Uint8Array | string>(),
): Promise<BrowserSession> {
  files.set("__blank.html", "<!doctype html><meta charset=utf-8><title>wgdet</title><body>");
  const server = serveStatic(ROOT, { files });
  for (let attempt = 0;; attempt++) {
    const browser = await Browser.launch();
    const page = await browser.newPage();
    await page.goto(server.url + path);
    const adapter = await probeAdapter(page);
    if (adapter) {
      return {
        browser,
        server,
        page,
        adapter,
        async close() {
          await browser.close();
          await server.close();
        },
      };
    }
    await browser.close();
    if (attempt >= 1) {
      await server.close();
      throw new Error(
        `${browser.version} gave its tab no WebGPU adapter twice (flags: --enable-unsafe-webgpu)`,
      );
    }
  }
}

/** The browser bundle of web.ts, built as `deno task build:web` builds it (into a temp file). */
export async function buildBundle(): Promise<string> {
  const out = await Deno.makeTempFile({ suffix: ".js" });
  try {
    await buildWeb(out);
    return await Deno.readTextFile(out);
  } finally {
    await Deno.remove(out).catch(() => {});
  }
}

/** A session whose page has the bundle loaded as `window.wgdet`. */
export async function openWgdetSession(): Promise<BrowserSession> {
  const files = new Map<string, Uint8Array | string>([["wgdet.js", await buildBundle()]]);
  const s = await openSession("__blank.html", files);
  await s.page.evaluate(`import("/wgdet.js").then((m) => { window.wgdet = m; return true; })`);
  return s;
}

/** Runs `fn(window.wgdet, ...args)` in the page. */
export function callWithWgdet<T>(
  s: BrowserSession,
  fn: (...a: never[]) => unknown,
  ...args: unknown[]
): Promise<T> {
  const a = args.map((x) => JSON.stringify(x)).join(", ");
  return s.page.evaluate<T>(`(${fn.toString()})(window.wgdet${a ? ", " + a : ""})`);
}
