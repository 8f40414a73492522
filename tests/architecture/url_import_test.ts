import { assert } from "../_assert.ts";
import { hasAdapter } from "../_gpu.ts";

const root = new URL("../../", import.meta.url);

function contentType(path: string): string {
  if (path.endsWith(".ts")) return "application/typescript";
  if (path.endsWith(".json")) return "application/json";
  return "text/plain";
}

Deno.test({
  name: "mod.ts imports by URL from a folder without deno.json and runs a forward and backward",
  ignore: !hasAdapter,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const ac = new AbortController();
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      signal: ac.signal,
      onListen: () => {},
    }, async (req) => {
      const path = decodeURIComponent(new URL(req.url).pathname);
      if (path.includes("..")) return new Response("bad path", { status: 400 });
      try {
        const body = await Deno.readFile(new URL(`.${path}`, root));
        return new Response(body, { headers: { "content-type": contentType(path) } });
      } catch {
        return new Response("not found", { status: 404 });
      }
    });
    const host = `127.0.0.1:${server.addr.port}`;
    const dir = await Deno.makeTempDir({ prefix: "wgdet-url-" });
    try {
      await Deno.writeTextFile(
        `${dir}/main.ts`,
        `import { backward, F, initGpu, Tensor, tidy } from "http://${host}/mod.ts";
await initGpu();
const w = Tensor.from([0.5, -1, 2, 0], [2, 2], { requiresGrad: true });
const x = Tensor.from([1, 2, 3, 4], [2, 2]);
const loss = tidy(() => { const l = F.sum(F.relu(F.matmul(x, w))); backward(l); return l; });
console.log(JSON.stringify({ loss: await loss.item(), grad: [...await w.grad!.toArray()] }));
`,
      );
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--no-config",
          `--allow-import=${host}`,
          `--reload=http://${host}`,
          "--allow-env",
          "main.ts",
        ],
        cwd: dir,
        env: { XDG_RUNTIME_DIR: "/tmp", NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(out.stdout),
        stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, stderr);
      const r = JSON.parse(stdout.trim().split("\n").pop()!);
      // x·w = [[1·.5+2·2, 1·-1+0], [3·.5+4·2, -3]] = [[4.5, -1], [9.5, -3]] → relu sum 14
      assert.equal(r.loss, 14);
      assert.deepEqual(r.grad, [4, 0, 6, 0]);
    } finally {
      ac.abort();
      await server.finished;
      await Deno.remove(dir, { recursive: true });
    }
  },
});
