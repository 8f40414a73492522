import { assert } from "../_assert.ts";
import { browserPlatform as b, listFiles, normPath } from "../../lib/platform/browser.ts";
import { denoPlatform } from "../../lib/platform/deno.ts";
import {
  basename,
  dirname,
  extname,
  fileURLToPath,
  join,
  pathToFileURL,
  relative,
  resolve,
} from "../../lib/utils/path.ts";

Deno.test("browser platform: in-memory files, folders, rename, remove, not-found errors", async () => {
  await b.mkdir("/t/a", { recursive: true });
  await b.writeTextFile("/t/a/x.txt", "hi");
  await b.writeTextFile("/t/a/x.txt", " there", { append: true });
  assert.equal(await b.readTextFile("/t/a/../a/x.txt"), "hi there");
  assert.deepEqual((await b.stat("/t/a")).isDirectory, true);
  const names = [];
  for await (const e of b.readDir("/t")) names.push([e.name, e.isDirectory]);
  assert.deepEqual(names, [["a", true]]);
  await b.rename("/t/a", "/t/b");
  assert.deepEqual(listFiles("/t"), ["/t/b/x.txt"]);
  await assert.rejects(() => b.readFile("/t/a/x.txt"), (e: Error) => b.isNotFound(e));
  assert.throws(() => b.writeTextFileSync("/nope/y.txt", "x"), (e: Error) => b.isNotFound(e));
  await b.remove("/t", { recursive: true });
  assert.deepEqual(listFiles("/t"), []);
  assert.equal(normPath("a/./b/../c"), "/a/c");
});

Deno.test("browser platform's PNG encoder writes files pngjs decodes to the same pixels", () => {
  const w = 5, h = 3;
  const rgba = new Uint8Array(w * h * 4).map((_, i) => (i * 37) % 256);
  for (const ct of [6, 2] as const) {
    const img = { data: rgba.slice(), width: w, height: h };
    if (ct === 2) { for (let i = 3; i < img.data.length; i += 4) img.data[i] = 255; }
    const png = b.encodePng(img, ct);
    const back = denoPlatform.decodePng(png);
    assert.equal(back.width, w);
    assert.equal(back.height, h);
    assert.deepEqual(Array.from(back.data), Array.from(img.data));
    // and the browser's own decode of its bytes (remembered at encode time) is the same
    assert.deepEqual(Array.from(b.decodePng(png).data), Array.from(img.data));
  }
});

Deno.test("lib/utils/path.ts matches node:path's posix behaviour on the cases the library uses", () => {
  assert.equal(join("a", "b/../c", "d.png"), "a/c/d.png");
  assert.equal(join("/x/", "y"), "/x/y");
  assert.equal(dirname("/a/b/c.ts"), "/a/b");
  assert.equal(dirname("c.ts"), ".");
  assert.equal(basename("/a/b/c.ts"), "c.ts");
  assert.equal(basename("/a/b/c.ts", ".ts"), "c");
  assert.equal(extname("x/y.tar.gz"), ".gz");
  assert.equal(extname(".hidden"), "");
  assert.equal(resolve("/a", "b", "../c"), "/a/c");
  assert.equal(relative("/a/b", "/a/c/d"), "../c/d");
  // as node:url's: % and \ are escaped, so the path comes back unchanged
  assert.equal(pathToFileURL("/a%20b\\c d#.ts").href, "file:///a%2520b%5Cc%20d%23.ts");
  assert.equal(fileURLToPath(pathToFileURL("/a%20b\\c d#.ts")), "/a%20b\\c d#.ts");
});

Deno.test("platform writeFileSync appends; the browser's writeStderr redraws a line on \\r", async () => {
  b.mkdirSync("/s", { recursive: true });
  b.writeFileSync("/s/a.bin", new Uint8Array([1, 2]));
  b.writeFileSync("/s/a.bin", new Uint8Array([3]), { append: true });
  assert.deepEqual(Array.from(b.readFileSync("/s/a.bin")), [1, 2, 3]);
  await b.remove("/s", { recursive: true });
  const dir = await Deno.makeTempDir();
  try {
    denoPlatform.writeFileSync(`${dir}/a.bin`, new Uint8Array([1, 2]));
    denoPlatform.writeFileSync(`${dir}/a.bin`, new Uint8Array([3]), { append: true });
    assert.deepEqual(Array.from(Deno.readFileSync(`${dir}/a.bin`)), [1, 2, 3]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const lines: string[] = [];
  const orig = console.error;
  console.error = (s: string) => lines.push(s);
  try {
    b.writeStderr("\rDownloading x: 10%");
    b.writeStderr("\rDownloading x: 100%");
    b.writeStderr("\nnext\r");
    b.writeStderr("line\n");
  } finally {
    console.error = orig;
  }
  assert.deepEqual(lines, ["Downloading x: 100%", "line"]);
  assert.equal(b.stderrIsTerminal(), false);
});
