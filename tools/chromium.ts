/**
 * A small Chromium driver over the DevTools protocol (Deno's built-in WebSocket, no npm package,
 * no browser download): launches the system's headless Chromium with the flags that give a tab a
 * WebGPU adapter without a GPU (Chromium's SwiftShader; Mesa lavapipe is blocklisted for WebGPU
 * in Chromium), serves a folder over HTTP on 127.0.0.1 (a secure context, so `navigator.gpu`
 * exists), evaluates expressions in the page and takes screenshots. Used by `tests/browser/`,
 * `deno task serve` and the browser benchmark.
 *
 * @module
 */

/** The Chromium executable: `$CHROMIUM`, else the first of the usual names found, else `null`. */
export function findChromium(): string | null {
  const env = Deno.env.get("CHROMIUM");
  const names = env ? [env] : [
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
  ];
  for (const n of names) {
    try {
      if (Deno.statSync(n).isFile) return n;
    } catch { /* not there */ }
  }
  return null;
}

/** The flags of a headless Chromium whose tabs get a WebGPU adapter on a machine without a GPU. */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox", // needed when running as root (CI containers)
  "--enable-unsafe-webgpu", // without it requestAdapter() returns null on Linux
  "--no-first-run",
  "--no-default-browser-check",
  "--disable-extensions",
  "--disable-background-networking",
  "--mute-audio",
  "--window-size=1280,900",
];

const MIME: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  xml: "application/xml",
  wgsl: "text/plain; charset=utf-8",
  safetensors: "application/octet-stream",
};

/** A static file server on 127.0.0.1 (port 0 = any free port). */
export interface StaticServer {
  /** `http://127.0.0.1:PORT/`. */
  url: string;
  /** Files served from memory, by path without the leading slash (e.g. `"wgdet.js"`). */
  files: Map<string, Uint8Array | string>;
  /** Stops the server. */
  close(): Promise<void>;
}

/** Serves `root` (and the in-memory `files`) on 127.0.0.1. */
export function serveStatic(
  root: string,
  opts: { port?: number; files?: Map<string, Uint8Array | string>; quiet?: boolean } = {},
): StaticServer {
  const files = opts.files ?? new Map();
  const rootPath = root.endsWith("/") ? root : root + "/";
  const ac = new AbortController();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: opts.port ?? 0,
    signal: ac.signal,
    onListen: () => {},
  }, async (req) => {
    let p = decodeURIComponent(new URL(req.url).pathname).replace(/^\/+/, "");
    if (p === "" || p.endsWith("/")) p += "index.html";
    const ext = p.split(".").pop()!.toLowerCase();
    const headers = {
      "content-type": MIME[ext] ?? "application/octet-stream",
      "cache-control": "no-store",
    };
    const mem = files.get(p);
    if (mem !== undefined) return new Response(mem, { headers });
    if (p.split("/").includes("..")) return new Response("bad path", { status: 400 });
    try {
      return new Response(await Deno.readFile(rootPath + p), { headers });
    } catch {
      return new Response(`not found: ${p}`, { status: 404 });
    }
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    files,
    async close() {
      ac.abort();
      await server.finished;
    },
  };
}

interface Pending {
  resolve: (v: Record<string, unknown>) => void;
  reject: (e: Error) => void;
  method: string;
}

/** A DevTools protocol connection (browser level, with flattened page sessions). */
class Cdp {
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<number, Pending>();
  #listeners = new Set<(method: string, params: Record<string, unknown>, sid?: string) => void>();
  #closed: Promise<void>;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    this.#closed = new Promise((r) => ws.addEventListener("close", () => r()));
    ws.addEventListener("message", (ev) => {
      const msg = JSON.parse(ev.data as string);
      if (msg.id !== undefined) {
        const p = this.#pending.get(msg.id);
        if (!p) return;
        this.#pending.delete(msg.id);
        if (msg.error) {
          p.reject(new Error(`${p.method}: ${msg.error.message} ${msg.error.data ?? ""}`));
        } else p.resolve(msg.result);
      } else {
        for (const l of this.#listeners) l(msg.method, msg.params, msg.sessionId);
      }
    });
    ws.addEventListener("close", () => {
      for (const p of this.#pending.values()) p.reject(new Error(`${p.method}: browser closed`));
      this.#pending.clear();
    });
  }

  static async connect(url: string): Promise<Cdp> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener("open", () => resolve(), { once: true });
      ws.addEventListener("error", (e) => reject(new Error(`DevTools socket: ${e}`)), {
        once: true,
      });
    });
    return new Cdp(ws);
  }

  send(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<Record<string, unknown>> {
    const id = this.#next++;
    const msg: Record<string, unknown> = { id, method, params };
    if (sessionId) msg.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, method });
      this.#ws.send(JSON.stringify(msg));
    });
  }

  on(l: (method: string, params: Record<string, unknown>, sid?: string) => void): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  async close(): Promise<void> {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close();
    await this.#closed;
  }
}

/** An error thrown inside the page (message and stack as the page reported them). */
export class PageError extends Error {
  /** Wraps the page's exception text. */
  constructor(message: string) {
    super(message);
    this.name = "PageError";
  }
}

/** One tab. */
export class Page {
  /** Console lines and uncaught errors of the page, in order. */
  readonly log: string[] = [];
  #cdp: Cdp;
  #sid: string;

  /** @internal */
  constructor(cdp: Cdp, sid: string) {
    this.#cdp = cdp;
    this.#sid = sid;
    cdp.on((method, params, sid) => {
      if (sid !== this.#sid) return;
      if (method === "Runtime.consoleAPICalled") {
        const args = params.args as { value?: unknown; description?: string }[];
        this.log.push(args.map((a) => a.value ?? a.description ?? "").join(" "));
      } else if (method === "Runtime.exceptionThrown") {
        const d = params.exceptionDetails as { exception?: { description?: string }; text: string };
        this.log.push(`uncaught: ${d.exception?.description ?? d.text}`);
      }
    });
  }

  /** Sends a DevTools command to this tab. */
  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.#cdp.send(method, params, this.#sid);
  }

  /** Navigates to `url` and waits for its load event. */
  async goto(url: string): Promise<void> {
    const loaded = new Promise<void>((resolve) => {
      const off = this.#cdp.on((m, _p, sid) => {
        if (sid === this.#sid && m === "Page.loadEventFired") {
          off();
          resolve();
        }
      });
    });
    const r = await this.send("Page.navigate", { url });
    if (r.errorText) throw new Error(`cannot open ${url}: ${r.errorText}`);
    await loaded;
  }

  /**
   * Evaluates `expression` in the page (awaiting a returned promise) and returns its value as
   * JSON. A thrown error becomes a {@linkcode PageError} with the page's stack.
   */
  async evaluate<T = unknown>(expression: string): Promise<T> {
    const r = await this.send("Runtime.evaluate", {
      expression,
      awaitPromise: true,
      returnByValue: true,
      userGesture: true,
    });
    const ex = r.exceptionDetails as
      | { exception?: { description?: string; value?: unknown }; text: string }
      | undefined;
    if (ex) {
      throw new PageError(
        String(ex.exception?.description ?? ex.exception?.value ?? ex.text),
      );
    }
    return (r.result as { value?: T }).value as T;
  }

  /** Calls `fn` (serialised with `toString`) in the page with JSON `args`; returns its value. */
  call<T = unknown>(fn: (...args: never[]) => unknown, ...args: unknown[]): Promise<T> {
    return this.evaluate<T>(`(${fn.toString()})(...${JSON.stringify(args)})`);
  }

  /** A PNG screenshot of the viewport. */
  async screenshot(): Promise<Uint8Array> {
    const r = await this.send("Page.captureScreenshot", { format: "png" });
    const bin = atob(r.data as string);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
}

/** A running headless Chromium. */
export class Browser {
  #proc: Deno.ChildProcess;
  #cdp: Cdp;
  #dir: string;
  /** The browser's version string (`Chrome/156.0…`). */
  readonly version: string;

  private constructor(proc: Deno.ChildProcess, cdp: Cdp, dir: string, version: string) {
    this.#proc = proc;
    this.#cdp = cdp;
    this.#dir = dir;
    this.version = version;
  }

  /** Starts `exe` (default {@linkcode findChromium}) headless, with a fresh profile. */
  static async launch(opts: { exe?: string; flags?: string[] } = {}): Promise<Browser> {
    const exe = opts.exe ?? findChromium();
    if (!exe) throw new Error("no Chromium found: install Debian's `chromium` or set CHROMIUM");
    const dir = await Deno.makeTempDir({ prefix: "wgdet-chromium-" });
    const proc = new Deno.Command(exe, {
      args: [
        ...CHROMIUM_FLAGS,
        ...(opts.flags ?? []),
        `--user-data-dir=${dir}`,
        "--remote-debugging-port=0",
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID" comes on stderr
    const reader = proc.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    let wsUrl: string | null = null;
    const deadline = setTimeout(() => {
      try {
        proc.kill("SIGKILL");
      } catch { /* gone */ }
    }, 20000);
    while (!wsUrl) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      wsUrl = /DevTools listening on (ws:\/\/\S+)/.exec(buf)?.[1] ?? null;
    }
    clearTimeout(deadline);
    if (!wsUrl) {
      await proc.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw new Error(`${exe} did not start:\n${buf.slice(-2000)}`);
    }
    // keep draining stderr so the browser never blocks on a full pipe
    (async () => {
      try {
        while (!(await reader.read()).done) { /* drop */ }
      } catch { /* closed */ }
    })();
    const cdp = await Cdp.connect(wsUrl);
    const v = await cdp.send("Browser.getVersion");
    return new Browser(proc, cdp, dir, String(v.product));
  }

  /** Opens a new tab (on `about:blank`) with console capture on. */
  async newPage(): Promise<Page> {
    const { targetId } = await this.#cdp.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.#cdp.send("Target.attachToTarget", {
      targetId,
      flatten: true,
    });
    const page = new Page(this.#cdp, sessionId as string);
    await page.send("Page.enable");
    await page.send("Runtime.enable");
    return page;
  }

  /** Closes the browser and removes its profile. */
  async close(): Promise<void> {
    try {
      await this.#cdp.send("Browser.close");
    } catch { /* already closing */ }
    await this.#cdp.close();
    const t = setTimeout(() => {
      try {
        this.#proc.kill("SIGKILL");
      } catch { /* gone */ }
    }, 5000);
    await this.#proc.status;
    clearTimeout(t);
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

/** What a tab's `navigator.gpu.requestAdapter()` gave. */
export interface PageAdapter {
  /** `adapter.info` fields. */
  vendor: string;
  architecture: string;
  description: string;
  isFallbackAdapter: boolean;
  features: string[];
}

/**
 * Asks the page for a WebGPU adapter, retrying once (about 1 in 30 fresh Chromium launches
 * returns none on the first call). Returns `null` when the browser has none.
 */
export async function probeAdapter(page: Page): Promise<PageAdapter | null> {
  return await page.evaluate<PageAdapter | null>(`(async () => {
    if (!navigator.gpu) return null;
    let a = await navigator.gpu.requestAdapter();
    if (!a) { await new Promise((r) => setTimeout(r, 200)); a = await navigator.gpu.requestAdapter(); }
    if (!a) return null;
    const i = a.info ?? {};
    return { vendor: i.vendor ?? "", architecture: i.architecture ?? "",
      description: i.description ?? "", isFallbackAdapter: !!(i.isFallbackAdapter ?? a.isFallbackAdapter),
      features: [...a.features].sort() };
  })()`);
}
