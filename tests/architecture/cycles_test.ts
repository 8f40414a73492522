import { assert } from "../_assert.ts";

// File-level import cycles in lib/ and mod.ts: Tarjan's strongly connected components over the
// static imports (`import`/`export … from`; type-only imports count too: a cycle of types is
// still two modules that cannot be understood apart).

const root = new URL("../../", import.meta.url);

async function* walk(dir: URL): AsyncGenerator<URL> {
  for await (const e of Deno.readDir(dir)) {
    const u = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
    if (e.isDirectory) yield* walk(u);
    else if (e.name.endsWith(".ts")) yield u;
  }
}

/** Relative `.ts` imports of `src` (comments removed: JSDoc examples import mod.ts). */
export function staticImports(src: string): string[] {
  const code = src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const out: string[] = [];
  for (
    const m of code.matchAll(
      /(?:import|export)\s[^"'`;]*?from\s+["']([^"']+)["']|import\s+["']([^"']+)["']/g,
    )
  ) {
    const spec = m[1] ?? m[2];
    if (spec.startsWith(".") && spec.endsWith(".ts")) out.push(spec);
  }
  return out;
}

/** The strongly connected components with more than one node (or a self-import). */
export function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], on = new Set<string>(), out: string[][] = [];
  const strong = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) strong(v);
  return out;
}

Deno.test("cycles() finds a two-file cycle and a self-import, not a chain", () => {
  const g = new Map([["a", ["b"]], ["b", ["a", "c"]], ["c", []], ["d", ["d"]]]);
  assert.deepEqual(
    cycles(g).sort(),
    [["a", "b"], ["d"]],
  );
  assert.deepEqual(cycles(new Map([["a", ["b"]], ["b", ["c"]], ["c", []]])), []);
});

Deno.test("lib/ and mod.ts have no file-level import cycle", async () => {
  const graph = new Map<string, string[]>();
  const files: URL[] = [new URL("mod.ts", root)];
  for await (const f of walk(new URL("lib/", root))) files.push(f);
  for (const f of files) {
    const rel = f.pathname.slice(root.pathname.length);
    const deps = staticImports(await Deno.readTextFile(f)).map((s) =>
      new URL(s, f).pathname.slice(root.pathname.length)
    );
    graph.set(rel, [...new Set(deps)]);
  }
  const found = cycles(graph);
  assert.deepEqual(
    found,
    [],
    `import cycles (break each with a small interface module or by moving the shared part down):\n${
      found.map((c) => c.join(" ⇄ ")).join("\n")
    }`,
  );
});
