/**
 * A small WGSL reader for tests: the kernel files, their top-level function definitions, `struct`
 * declarations and `@binding` variables (comments removed, braces matched).
 */

const KERNELS = new URL("../kernels/", import.meta.url);

/** One kernel file: its path under `kernels/` and its text. */
export interface KernelFile {
  /** Path relative to `kernels/`, e.g. `unary.wgsl`, `direct/conv2d_direct_8x8.wgsl`. */
  path: string;
  /** The file's text. */
  text: string;
}

/** Every `.wgsl` file under `kernels/` (also `kernels/direct/`), sorted by path. */
export async function kernelFiles(): Promise<KernelFile[]> {
  const out: KernelFile[] = [];
  for (const dir of ["", "direct/"]) {
    for await (const e of Deno.readDir(new URL(dir, KERNELS))) {
      if (!e.isFile || !e.name.endsWith(".wgsl")) continue;
      out.push({
        path: dir + e.name,
        text: await Deno.readTextFile(new URL(dir + e.name, KERNELS)),
      });
    }
  }
  return out.sort((a, b) => a.path < b.path ? -1 : 1);
}

/** `src` without `//` and `/* *\/` comments (line breaks kept). */
export function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, " ")).replace(/\/\/.*$/gm, "");
}

/** The text from `open` (an index of `{`) to its matching `}`, inclusive. */
function braced(src: string, open: number): string {
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    if (src[i] === "{") depth++;
    else if (src[i] === "}" && --depth === 0) return src.slice(open, i + 1);
  }
  throw new Error(`unbalanced braces from offset ${open}`);
}

/** A top-level function: its name and its whole definition with whitespace collapsed. */
export interface WgslFunction {
  /** The function's name. */
  name: string;
  /** `fn name(...) -> T { ... }`, whitespace runs collapsed to one space. */
  text: string;
}

/** The top-level functions of `src`. */
export function functions(src: string): WgslFunction[] {
  const s = stripComments(src);
  const out: WgslFunction[] = [];
  for (const m of s.matchAll(/^fn\s+(\w+)\s*\(/gm)) {
    const open = s.indexOf("{", m.index!);
    const text = s.slice(m.index!, open) + braced(s, open);
    out.push({ name: m[1], text: text.replace(/\s+/g, " ").trim() });
  }
  return out;
}

/** One member of a struct: name and WGSL type. */
export interface WgslMember {
  /** Field name. */
  name: string;
  /** Type as written, e.g. `u32`, `vec4<f32>`, `array<vec4<u32>, 2>`. */
  type: string;
}

/** The members of `struct name` in `src`, or null when it declares none. */
export function structMembers(src: string, name: string): WgslMember[] | null {
  const s = stripComments(src);
  const m = new RegExp(`^struct\\s+${name}\\s*\\{`, "m").exec(s);
  if (!m) return null;
  const body = braced(s, s.indexOf("{", m.index)).slice(1, -1);
  // split on commas outside <...>
  const parts: string[] = [];
  let depth = 0, cur = "";
  for (const ch of body) {
    if (ch === "<") depth++;
    if (ch === ">") depth--;
    if (ch === "," && depth === 0) {
      parts.push(cur);
      cur = "";
    } else cur += ch;
  }
  parts.push(cur);
  return parts.map((p) => p.trim()).filter((p) => p.length > 0).map((p) => {
    const i = p.indexOf(":");
    return { name: p.slice(0, i).trim(), type: p.slice(i + 1).replace(/\s+/g, "").trim() };
  });
}

/** One `@group(0) @binding(i) var<…> name: type;` declaration. */
export interface WgslBinding {
  /** Binding number. */
  binding: number;
  /** Address space and access, e.g. `storage, read`, `uniform`. */
  space: string;
  /** Variable name. */
  name: string;
  /** Type as written, whitespace removed. */
  type: string;
}

/** The bindings of group 0 in `src`, by binding number. */
export function bindings(src: string): WgslBinding[] {
  const s = stripComments(src);
  const out: WgslBinding[] = [];
  for (
    const m of s.matchAll(
      /@group\(0\)\s*@binding\((\d+)\)\s*var<([^>]*)>\s*(\w+)\s*:\s*([^;]+);/g,
    )
  ) {
    out.push({
      binding: +m[1],
      space: m[2].replace(/\s+/g, " ").trim(),
      name: m[3],
      type: m[4].replace(/\s+/g, ""),
    });
  }
  return out.sort((a, b) => a.binding - b.binding);
}
