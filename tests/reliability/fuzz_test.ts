/**
 * Seeded fuzzing of everything wgdet reads from disk: COCO JSON and VOC XML annotation mutants,
 * damaged images and damaged checkpoints. For each mutant the outcome must be a named error
 * (DataError / ConfigError / SyntaxError whose message names the file) or a load whose result
 * accounts for every annotation (kept, ignored or counted in `skipped`) with finite boxes —
 * never a raw TypeError/RangeError, never a silent change, and never slow (a time bound per
 * case).
 */
import { join } from "node:path";
import { assert } from "../_assert.ts";
import { CocoDataset } from "../../lib/datasets/coco.ts";
import { XMLDataset } from "../../lib/datasets/xml_style.ts";
import { decodeImage, encodePng, readImageSize } from "../../lib/datasets/image_io.ts";
import { jpegJs } from "../../lib/deps.ts";
import { loadCheckpoint, saveCheckpoint } from "../../lib/runner/checkpoint.ts";
import { Rng } from "../../lib/utils/rng.ts";
import { ConfigError, DataError } from "../../lib/utils/errors.ts";

const rng = new Rng(20261203);
const CASE_MS = 1500;
const quiet = () => {};

const VALUES: unknown[] = [
  [],
  {},
  "1",
  "abc",
  "",
  "NaN",
  1e39,
  -1e39,
  -1,
  0,
  0.5,
  1,
  2,
  null,
  true,
  false,
  [1, 2],
  [1, 2, 3, 4, 5],
  { a: 1 },
  1e308,
  -0,
  123456789012,
  "0x10",
];

/** A named error: one of wgdet's error classes, naming one of `files`. */
function named(e: unknown, files: string | string[]): boolean {
  return (e instanceof DataError || e instanceof ConfigError || e instanceof SyntaxError) &&
    [files].flat().some((f) => (e as Error).message.includes(f));
}

interface Tally {
  errors: number;
  loaded: number;
  cases: number;
}

function outcome(t: Tally, file: string | string[], what: string, fn: () => void): void {
  const t0 = performance.now();
  try {
    fn();
    t.loaded++;
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    assert.ok(named(e, file), `${what}: not a named error: ${(e as Error)?.stack ?? e}`);
    t.errors++;
  }
  t.cases++;
  const dt = performance.now() - t0;
  assert.ok(dt < CASE_MS, `${what}: took ${dt.toFixed(0)} ms`);
}

function cocoBase() {
  const images = Array.from({ length: 3 }, (_, i) => ({
    id: i + 1,
    file_name: `${i}.png`,
    width: 64,
    height: 48,
  }));
  const annotations = Array.from({ length: 6 }, (_, i) => ({
    id: i + 1,
    image_id: (i % 3) + 1,
    category_id: (i % 2) + 1,
    bbox: [2 + i, 3, 20, 10 + i],
    area: 20 * (10 + i),
    iscrowd: i === 5 ? 1 : 0,
  }));
  return {
    images,
    annotations,
    categories: [{ id: 1, name: "cat" }, { id: 2, name: "dog" }, { id: 3, name: "cow" }],
  };
}

/** Every path to a scalar or container in `obj`. */
function paths(obj: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (obj !== null && typeof obj === "object") {
    for (const [k, v] of Object.entries(obj)) {
      out.push(...paths(v, [...prefix, Array.isArray(obj) ? Number(k) : k]));
    }
  }
  return out;
}

function setPath(obj: unknown, path: (string | number)[], v: unknown, del: boolean): void {
  let o = obj as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  if (del) delete o[last];
  else o[last] = v;
}

/** Checks a loaded COCO dataset accounts for every annotation of the file, with finite boxes. */
function checkCoco(ds: CocoDataset, raw: ReturnType<typeof cocoBase>): void {
  let kept = 0;
  for (let i = 0; i < ds.length; i++) {
    const a = ds.getAnnInfo(i);
    kept += a.labels.length + a.labels_ignore.length;
    for (const v of [...a.bboxes, ...a.bboxes_ignore]) assert.ok(Number.isFinite(v));
  }
  const s = ds.skipped;
  const filtered = (s.ignore_flag ?? 0) + (s.outside_image ?? 0) + (s.tiny_box ?? 0) +
    (s.other_category ?? 0);
  assert.equal(kept + filtered, raw.annotations.length, JSON.stringify(s));
  // crowd boxes follow iscrowd exactly (only 0/1/true/false/null are accepted)
  for (let i = 0; i < ds.length; i++) {
    const id = ds.imgIds[i];
    const crowd = raw.annotations.filter((a) =>
      a.image_id === id && a.iscrowd && !(a as { ignore?: unknown }).ignore
    );
    assert.ok(ds.getAnnInfo(i).labels_ignore.length <= crowd.length);
  }
}

Deno.test("fuzz: 700 COCO JSON mutants give a named error or a fully accounted load", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgdet-fuzz-" });
  const t: Tally = { errors: 0, loaded: 0, cases: 0 };
  try {
    const file = join(dir, "instances.json");
    const base = cocoBase();
    const all = paths(base).filter((p) => p.length > 0);
    for (let n = 0; n < 700; n++) {
      const j = structuredClone(base);
      let text: string;
      const kind = rng.random();
      if (kind < 0.8) {
        const k = 1 + rng.randint(2);
        for (let m = 0; m < k; m++) {
          const p = rng.choice(all);
          try {
            setPath(j, p, structuredClone(rng.choice(VALUES)), rng.random() < 0.15);
          } catch { /* path vanished under an earlier mutation */ }
        }
        text = JSON.stringify(j);
      } else {
        const bytes = new TextEncoder().encode(JSON.stringify(j));
        const at = rng.randint(bytes.length);
        if (kind < 0.9) bytes[at] = rng.randint(256);
        text = new TextDecoder().decode(kind < 0.9 ? bytes : bytes.subarray(0, at));
      }
      const bytes = new TextEncoder().encode(text);
      if (rng.random() < 0.03) bytes[rng.randint(bytes.length)] = 0xe9; // a Latin-1 byte
      Deno.writeFileSync(file, bytes);
      for (const test_mode of [true, false]) {
        outcome(t, file, `coco #${n} ${text.slice(0, 300)}`, () => {
          const ds = new CocoDataset({
            ann_file: file,
            classes: ["cat", "dog"],
            test_mode,
            warn: quiet,
          });
          checkCoco(ds, JSON.parse(text));
        });
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.ok(t.cases >= 1400 && t.errors > 200 && t.loaded > 100, JSON.stringify(t));
});

const VOC_TEXT = [
  "",
  "abc",
  "0x10",
  "1e39",
  "NaN",
  "inf",
  "-5",
  "0.9",
  " 12 ",
  "&#x110000;",
  "&#-1;",
  "&amp;",
  "<b>1</b>",
  "1e3",
  "true",
  "1",
  "0",
  "12.7",
  "&#49;",
  "9999999",
];

function vocText(rng: Rng): string {
  const objs = Array.from({ length: 3 }, (_, i) => {
    const x = 1 + rng.randint(20), y = 1 + rng.randint(20);
    return `<object><name>${["cat", "dog", "cow"][i]}</name><difficult>${
      i === 1 ? 1 : 0
    }</difficult><bndbox><xmin>${x}</xmin><ymin>${y}</ymin><xmax>${x + 10 + i}</xmax><ymax>${
      y + 12
    }</ymax></bndbox></object>`;
  }).join("");
  return `<annotation><filename>a.jpg</filename><size><width>64</width><height>48</height><depth>3</depth></size>${objs}</annotation>`;
}

Deno.test("fuzz: 600 VOC XML mutants give a named error or a fully accounted load", async () => {
  const root = await Deno.makeTempDir({ prefix: "wgdet-fuzz-voc-" });
  const t: Tally = { errors: 0, loaded: 0, cases: 0 };
  try {
    Deno.mkdirSync(join(root, "Annotations"));
    Deno.writeTextFileSync(join(root, "ids.txt"), "a\n");
    const file = join(root, "Annotations", "a.xml");
    for (let n = 0; n < 600; n++) {
      let text = vocText(rng);
      const k = 1 + rng.randint(2);
      for (let m = 0; m < k; m++) {
        const r = rng.random();
        const tags = [...text.matchAll(/<(\w+)>([^<]*)<\/\1>/g)];
        if (tags.length === 0) break;
        const tag = rng.choice(tags);
        if (r < 0.6) text = text.replace(tag[0], `<${tag[1]}>${rng.choice(VOC_TEXT)}</${tag[1]}>`);
        else if (r < 0.7) text = text.replace(tag[0], `<${tag[1]}/>`);
        else if (r < 0.8) text = text.replace(tag[0], "");
        else if (r < 0.9) text = text.slice(0, rng.randint(text.length));
        else {
          const at = rng.randint(text.length);
          text = text.slice(0, at) + rng.choice(["<", ">", "&", "\u0000", "]]>", "<!--"]) +
            text.slice(at);
        }
      }
      Deno.writeTextFileSync(file, text);
      for (const test_mode of [true, false]) {
        // an empty training set is reported against the id list (ann_file)
        outcome(t, [file, join(root, "ids.txt")], `voc #${n} ${text}`, () => {
          const ds = new XMLDataset({
            classes: ["cat", "dog"],
            img_prefix: root,
            ann_file: join(root, "ids.txt"),
            test_mode,
            warn: quiet,
          });
          const objects = (text.match(/<object>/g) ?? []).length;
          let kept = 0;
          for (let i = 0; i < ds.length; i++) {
            const a = ds.getAnnInfo(i);
            kept += a.labels.length + a.labels_ignore.length;
            for (const v of [...a.bboxes, ...a.bboxes_ignore]) assert.ok(Number.isFinite(v));
          }
          const s = ds.skipped;
          if (ds.length > 0) {
            assert.equal(kept + (s.other_class ?? 0) + (s.zero_area_box ?? 0), objects, text);
          }
        });
      }
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
  assert.ok(t.cases >= 1200 && t.errors > 200 && t.loaded > 100, JSON.stringify(t));
});

Deno.test("fuzz: 80 damaged PNG/JPEG images give a named error or an image of the declared size", () => {
  const t: Tally = { errors: 0, loaded: 0, cases: 0 };
  const w = 24, h = 16;
  const rgb = new Uint8Array(w * h * 3).map((_, i) => (i * 31) % 256);
  const png = encodePng({ data: rgb, width: w, height: h, channels: 3 });
  const rgba = new Uint8Array(w * h * 4).map((_, i) => (i * 17) % 256);
  const jpg = new Uint8Array(jpegJs.encode({ data: rgba, width: w, height: h }, 80).data);
  for (let n = 0; n < 80; n++) {
    const src = n % 2 === 0 ? png : jpg;
    const b = src.slice();
    const r = rng.random();
    let bytes: Uint8Array;
    if (r < 0.3) bytes = b.subarray(0, rng.randint(b.length));
    else if (r < 0.6) {
      for (let k = 0; k < 1 + rng.randint(4); k++) b[rng.randint(b.length)] = rng.randint(256);
      bytes = b;
    } else if (r < 0.8 && n % 2 === 0) {
      // declare a huge size in IHDR (CRC left stale or not)
      new DataView(b.buffer).setUint32(16, 1 + rng.randint(100000));
      new DataView(b.buffer).setUint32(20, 1 + rng.randint(100000));
      bytes = b;
    } else bytes = new Uint8Array(rng.randint(64)).map(() => rng.randint(256));
    const name = `img_${n}.${n % 2 === 0 ? "png" : "jpg"}`;
    outcome(t, name, name, () => {
      const img = decodeImage(bytes, { name, maxPixels: 4_000_000 });
      const size = readImageSize(bytes, { oriented: true })!;
      assert.deepEqual([img.width, img.height], [size.width, size.height]);
      assert.equal(img.data.length, img.width * img.height * img.channels);
    });
  }
  assert.ok(t.cases >= 80 && t.errors > 20, JSON.stringify(t));
});

Deno.test("fuzz: 120 damaged checkpoints give a named error or finite F32 tensors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wgdet-fuzz-ck-" });
  const t: Tally = { errors: 0, loaded: 0, cases: 0 };
  try {
    const good = join(dir, "good.safetensors");
    await saveCheckpoint(good, {
      stateDict: {
        "a.weight": { dtype: "F32", shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
        "a.bias": { dtype: "F32", shape: [2], data: Float32Array.from([0.5, -1]) },
        "bn.num_batches_tracked": { dtype: "I64", shape: [], data: BigInt64Array.from([3n]) },
      },
      meta: { epoch: 2, iter: 20, CLASSES: ["a"] },
    });
    const weights = Deno.readFileSync(good);
    const meta = Deno.readTextFileSync(join(dir, "good.json"));
    const hlen = Number(new DataView(weights.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(weights.subarray(8, 8 + hlen)));
    for (let n = 0; n < 120; n++) {
      const p = join(dir, `c${n}.safetensors`);
      let w = weights.slice();
      let m = meta;
      const r = rng.random();
      if (r < 0.2) w = w.subarray(0, rng.randint(w.length));
      else if (r < 0.4) w[8 + hlen + rng.randint(w.length - 8 - hlen)] = 0xff; // NaN-ish bytes
      else if (r < 0.65) {
        const hd = structuredClone(header);
        const key = rng.choice(Object.keys(hd).filter((k) => k !== "__metadata__"));
        const field = rng.choice(["dtype", "shape", "data_offsets"]);
        hd[key][field] = rng.choice<unknown>([
          "F16",
          "BF16",
          "F64",
          "Q8",
          [0, 4],
          [4, 12],
          [-1, 3],
          [2.5],
          [1, 1, 1],
          null,
          [0, 1e20],
        ]);
        const json = new TextEncoder().encode(JSON.stringify(hd));
        const len = Math.ceil(json.length / 8) * 8;
        const out = new Uint8Array(8 + len + (w.length - 8 - hlen)).fill(0x20, 8, 8 + len);
        new DataView(out.buffer).setBigUint64(0, BigInt(len), true);
        out.set(json, 8);
        out.set(w.subarray(8 + hlen), 8 + len);
        w = out;
        m = m.replace(/"weights_bytes": \d+/, `"weights_bytes": ${w.length}`);
      } else if (r < 0.9) {
        const rec = JSON.parse(m);
        const f = rng.choice(["epoch", "iter", "CLASSES", "hook_msgs", "config"]);
        rec.meta[f] = structuredClone(rng.choice(VALUES));
        if (rng.random() < 0.2) rec.optimizer = { file: "../../etc/passwd", param_groups: [] };
        m = JSON.stringify(rec);
      } else m = m.slice(0, rng.randint(m.length));
      Deno.writeFileSync(p, w);
      Deno.writeTextFileSync(join(dir, `c${n}.json`), m);
      const t0 = performance.now();
      try {
        const ck = await loadCheckpoint(p);
        for (const [k, tt] of Object.entries(ck.stateDict)) {
          if (tt.dtype === "F32") {
            assert.ok((tt.data as Float32Array).every(Number.isFinite), k);
            assert.equal(tt.data.length, tt.shape.reduce((a, b) => a * b, 1));
          }
        }
        t.loaded++;
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        const ok = named(e, `c${n}.`) || (e instanceof Deno.errors.NotFound &&
          (e as Error).message.includes(`c${n}.`));
        assert.ok(ok, `ckpt #${n}: ${(e as Error)?.stack ?? e}`);
        t.errors++;
      }
      t.cases++;
      assert.ok(performance.now() - t0 < CASE_MS);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.ok(t.cases >= 120 && t.errors > 40, JSON.stringify(t));
});
