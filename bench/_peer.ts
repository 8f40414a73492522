/**
 * Runs `tools/peer_torch.py` (PyTorch/torchvision/cuDNN peer figures) in the same benchmark run,
 * when a `python3` with torch is on PATH; resolves to `null` (and says why on stderr) otherwise, so
 * the benchmark never depends on Python.
 */
// deno-lint-ignore no-explicit-any
export async function runTorchPeer(args: string[]): Promise<any | null> {
  const script = new URL("../tools/peer_torch.py", import.meta.url);
  let path: string;
  try {
    path = decodeURIComponent(script.pathname);
    await Deno.stat(path);
  } catch {
    console.error(`peer: ${script.href} is not a local file; PyTorch peer skipped`);
    return null;
  }
  for (const py of [Deno.env.get("WGDET_PYTHON"), "python3", "/usr/bin/python3"]) {
    if (!py) continue;
    try {
      const r = await new Deno.Command(py, {
        args: [path, ...args],
        stdout: "piped",
        stderr: "piped",
      })
        .output();
      if (!r.success) {
        const err = new TextDecoder().decode(r.stderr).trim().split("\n").slice(-3).join(" | ");
        // a python3 without torch (the next candidate may have it): said once at the end
        if (!/No module named 'torch'/.test(err)) {
          console.error(`peer: ${py} ${args[0]} failed: ${err}`);
        }
        continue;
      }
      const lines = new TextDecoder().decode(r.stdout).trim().split("\n");
      return JSON.parse(lines[lines.length - 1]);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        console.error(`peer: ${py}: ${(e as Error).message}`);
      }
    }
  }
  console.error("peer: no python3 with torch found; PyTorch peer skipped");
  return null;
}
