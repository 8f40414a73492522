/**
 * The work-dir plot: training losses, learning rate and per-epoch mAP read from the `*.log.json`
 * files, drawn into an RGBA buffer (axes, ticks, labels in a built-in bitmap font) and encoded as
 * a PNG a person can open.
 *
 * @module
 */
import { join } from "../utils/path.ts";
import { FONT_5X7 } from "./_font.ts";
import { platform } from "../platform/mod.ts";

/** An RGB colour, 0-255 per channel. */
export type Rgb = readonly [number, number, number];
const PALETTE: Rgb[] = [[31, 119, 180], [214, 39, 40], [44, 160, 44], [255, 127, 14], [
  148,
  103,
  189,
], [140, 86, 75]];
const BLACK: Rgb = [0, 0, 0];
const GREY: Rgb = [220, 220, 220];
const DARK: Rgb = [90, 90, 90];

/** A small RGBA raster with line, rectangle and text drawing. */
export class Raster {
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** RGBA bytes, row-major, white initially. */
  readonly data: Uint8Array;

  /** A white raster of the given size. */
  constructor(width: number, height: number) {
    this.width = width;
    this.height = height;
    this.data = new Uint8Array(width * height * 4).fill(255);
  }

  /** Sets one pixel (ignored outside the raster). */
  set(x: number, y: number, c: Rgb): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = (y * this.width + x) * 4;
    this.data[i] = c[0];
    this.data[i + 1] = c[1];
    this.data[i + 2] = c[2];
    this.data[i + 3] = 255;
  }

  /** Fills a rectangle. */
  rect(x: number, y: number, w: number, h: number, c: Rgb): void {
    for (let j = 0; j < h; j++) for (let i = 0; i < w; i++) this.set(x + i, y + j, c);
  }

  /** A line of the given thickness (Bresenham on rounded end points). */
  line(x0: number, y0: number, x1: number, y1: number, c: Rgb, thick = 1): void {
    let [x, y] = [Math.round(x0), Math.round(y0)];
    const [xe, ye] = [Math.round(x1), Math.round(y1)];
    const dx = Math.abs(xe - x), dy = -Math.abs(ye - y);
    const sx = x < xe ? 1 : -1, sy = y < ye ? 1 : -1;
    let err = dx + dy;
    const off = Math.floor((thick - 1) / 2);
    for (;;) {
      this.rect(x - off, y - off, thick, thick, c);
      if (x === xe && y === ye) break;
      const e2 = 2 * err;
      if (e2 >= dy) [err, x] = [err + dy, x + sx];
      if (e2 <= dx) [err, y] = [err + dx, y + sy];
    }
  }

  /** Draws text with its top-left corner at (x, y); each font pixel is `scale`×`scale`. */
  text(x: number, y: number, s: string, c: Rgb = BLACK, scale = 2): void {
    for (const ch of s.toUpperCase()) {
      const g = FONT_5X7[ch] ?? FONT_5X7["?"];
      for (let r = 0; r < 7; r++) {
        for (let b = 0; b < 5; b++) {
          if (g[r] & (1 << (4 - b))) this.rect(x + b * scale, y + r * scale, scale, scale, c);
        }
      }
      x += 6 * scale;
    }
  }

  /** Width in pixels of `s` drawn at `scale`. */
  static textWidth(s: string, scale = 2): number {
    return s.length * 6 * scale - scale;
  }

  /** The raster as PNG bytes. */
  toPng(): Uint8Array {
    return platform().encodePng({ data: this.data, width: this.width, height: this.height });
  }
}

/** Tick positions covering [lo, hi] with a 1-2-5 step. */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return out;
}

function formatTick(v: number, span: number): string {
  if (v === 0) return "0";
  if (Math.abs(v) < 1e-3 || span < 1e-3) return v.toExponential(1).replace("e", "E");
  const decimals = Math.max(0, Math.min(4, 1 - Math.floor(Math.log10(span))));
  return v.toFixed(decimals);
}

interface Series {
  name: string;
  points: [number, number][];
}

/** Draws one chart panel with axes, ticks, legend and the series. */
function panel(
  r: Raster,
  box: { x: number; y: number; w: number; h: number },
  title: string,
  series: Series[],
  opts: { markers?: boolean; xMin?: number } = {},
): void {
  const xLabel = "epoch";
  const left = box.x + 90,
    right = box.x + box.w - 20,
    top = box.y + 30,
    bottom = box.y + box.h - 40;
  r.text(box.x + 10, box.y + 6, title, BLACK, 2);
  const pts = series.flatMap((s) => s.points).filter(([x, y]) =>
    Number.isFinite(x) && Number.isFinite(y)
  );
  if (pts.length === 0) {
    r.text(left + 20, (top + bottom) / 2, "no data yet", DARK, 2);
    return;
  }
  let [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]))];
  if (opts.xMin !== undefined) x0 = Math.min(x0, opts.xMin);
  if (x1 === x0) [x0, x1] = [x0 - 1, x1 + 1];
  if (y1 === y0) [y0, y1] = [y0 - Math.abs(y0 || 1) * 0.1, y1 + Math.abs(y1 || 1) * 0.1];
  if (y0 > 0 && y0 < y1 - y0) y0 = 0; // start at 0 when it is close
  const px = (x: number) => left + (x - x0) / (x1 - x0) * (right - left);
  const py = (y: number) => bottom - (y - y0) / (y1 - y0) * (bottom - top);
  for (const t of niceTicks(y0, y1)) {
    r.line(left, py(t), right, py(t), GREY);
    const s = formatTick(t, y1 - y0);
    r.text(left - 8 - Raster.textWidth(s, 2), py(t) - 7, s, DARK, 2);
  }
  for (const t of niceTicks(x0, x1, 8)) {
    r.line(px(t), top, px(t), bottom, GREY);
    const s = formatTick(t, x1 - x0);
    r.text(px(t) - Raster.textWidth(s, 2) / 2, bottom + 8, s, DARK, 2);
  }
  r.line(left, top, left, bottom, BLACK, 2);
  r.line(left, bottom, right, bottom, BLACK, 2);
  r.text(right - Raster.textWidth(xLabel, 2), bottom + 26, xLabel, DARK, 2);
  let lx = box.x + 10 + Raster.textWidth(title, 2) + 40;
  series.forEach((s, k) => {
    const c = PALETTE[k % PALETTE.length];
    const p = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    for (let i = 1; i < p.length; i++) {
      r.line(px(p[i - 1][0]), py(p[i - 1][1]), px(p[i][0]), py(p[i][1]), c, 2);
    }
    if (opts.markers || p.length === 1) {
      for (const [x, y] of p) r.rect(px(x) - 3, py(y) - 3, 7, 7, c);
    }
    r.rect(lx, box.y + 10, 18, 6, c);
    r.text(lx + 24, box.y + 6, s.name, c, 2);
    lx += 24 + Raster.textWidth(s.name, 2) + 24;
  });
}

/** A record of the JSON log (`mode`, `epoch`, `iter`, values). */
export type JsonLogRecord = Record<string, unknown>;

/**
 * Renders losses (top), learning rate (middle) and per-epoch mAP-style metrics (bottom) of a
 * training log as a PNG. Train records are placed at fractional epochs `epoch − 1 + iter/n`, with n
 * the largest logged iteration of that epoch.
 */
export function renderTrainingPlot(
  records: JsonLogRecord[],
  opts: { title?: string; width?: number } = {},
): Uint8Array {
  const width = opts.width ?? 1000;
  const train = records.filter((r) => r.mode === "train" && typeof r.iter === "number");
  const val = records.filter((r) => r.mode === "val");
  const perEpoch = new Map<number, number>();
  for (const r of train) {
    perEpoch.set(
      r.epoch as number,
      Math.max(perEpoch.get(r.epoch as number) ?? 0, r.iter as number),
    );
  }
  const xOf = (r: JsonLogRecord) =>
    (r.epoch as number) - 1 + (r.iter as number) / (perEpoch.get(r.epoch as number) ?? 1);
  const lossKeys = [
    ...new Set(
      train.flatMap((r) =>
        Object.keys(r).filter((k) => k.includes("loss") && typeof r[k] === "number")
      ),
    ),
  ];
  const metricKeys = [
    ...new Set(
      val.flatMap((r) =>
        Object.keys(r).filter((k) => /mAP|AP50|^AP/.test(k) && typeof r[k] === "number")
      ),
    ),
  ]
    .filter((k) => !/_(s|m|l)$/.test(k)).slice(0, 6);
  const series = (
    rows: JsonLogRecord[],
    keys: string[],
    x: (r: JsonLogRecord) => number,
  ): Series[] =>
    keys.map((k) => ({
      name: k,
      points: rows.filter((r) => typeof r[k] === "number").map((r) =>
        [x(r), r[k] as number] as [number, number]
      ),
    }));
  const h = 300;
  const r = new Raster(width, 3 * h + 40);
  r.text(10, 10, opts.title ?? "training log", BLACK, 3);
  panel(r, { x: 0, y: 40, w: width, h }, "loss", series(train, lossKeys, xOf), { xMin: 0 });
  panel(r, { x: 0, y: 40 + h, w: width, h }, "learning rate", series(train, ["lr"], xOf), {
    xMin: 0,
  });
  panel(
    r,
    { x: 0, y: 40 + 2 * h, w: width, h },
    "validation",
    series(val, metricKeys, (row) => row.epoch as number),
    {
      markers: true,
      xMin: 0,
    },
  );
  return r.toPng();
}

/** Reads every `*.log.json` in `workDir` (oldest first, so resumed runs continue the curve). */
export async function readJsonLogs(workDir: string): Promise<JsonLogRecord[]> {
  const names: string[] = [];
  for await (const e of platform().readDir(workDir)) {
    if (e.isFile && e.name.endsWith(".log.json")) names.push(e.name);
  }
  const out: JsonLogRecord[] = [];
  for (const name of names.sort()) {
    for (const line of (await platform().readTextFile(join(workDir, name))).split("\n")) {
      if (!line.trim()) continue;
      try {
        const rec = JSON.parse(line);
        if (rec && typeof rec === "object" && "mode" in rec) out.push(rec);
      } catch {
        // a line cut by a crash: skip it
      }
    }
  }
  return out;
}

/**
 * Writes `{workDir}/training_curves.png` (or `outPath`) from the work dir's JSON logs.
 *
 * @returns The path written.
 */
export async function plotWorkDir(workDir: string, outPath?: string): Promise<string> {
  const records = await readJsonLogs(workDir);
  const path = outPath ?? join(workDir, "training_curves.png");
  const title = workDir.replace(/\/+$/, "").split(/[\\/]/).pop() ?? "training log";
  await platform().writeFile(path, renderTrainingPlot(records, { title }));
  // the vector twin, with real text: losses, learning rate (log scale) and validation metrics
  const { renderCurvesSvg } = await import("./plot_svg.ts");
  const lossKeys = [
    ...new Set(
      records.flatMap((r) =>
        r.mode === "train"
          ? Object.keys(r).filter((k) => k.startsWith("loss") && typeof r[k] === "number")
          : []
      ),
    ),
  ];
  const valKeys = [
    ...new Set(
      records.flatMap((r) =>
        r.mode === "val"
          ? Object.keys(r).filter((k) => /^(bbox_mAP|bbox_mAP_50|mAP|AP50)$/.test(k))
          : []
      ),
    ),
  ];
  await platform().writeTextFile(
    path.replace(/\.png$/, "") + ".svg",
    renderCurvesSvg([{ name: title, records }], {
      keys: [...lossKeys, "lr", ...valKeys],
      logScale: ["lr"],
      title: `Training curves: ${title}`,
    }),
  );
  return path;
}

/**
 * Renders one panel per key with one line per run (the PNG twin of `renderCurvesSvg` in
 * `plot_svg.ts`); keys in `logScale` are drawn as log10 of the value.
 */
export function renderCurvesPng(
  runs: { name: string; records: JsonLogRecord[] }[],
  keys: string[],
  opts: { logScale?: string[]; title?: string; width?: number; points: PointsOf },
): Uint8Array {
  const width = opts.width ?? 1000;
  const h = 300;
  const r = new Raster(width, keys.length * h + 40);
  r.text(10, 10, opts.title ?? "training curves", BLACK, 3);
  keys.forEach((key, i) => {
    const log = opts.logScale?.includes(key) ?? false;
    const series = runs.map((run) => ({
      name: run.name,
      points: opts.points(run.records, key).filter(([, v]) => !log || v > 0).map((
        [x, v],
      ) => [x, log ? Math.log10(v) : v] as [number, number]),
    }));
    panel(r, { x: 0, y: 40 + i * h, w: width, h }, log ? `${key} (log10)` : key, series, {
      xMin: 0,
      markers: series.every((s) => s.points.length <= 30),
    });
  });
  return r.toPng();
}

/** The `[x, value]` points of a key in a run's records. */
export type PointsOf = (records: JsonLogRecord[], key: string) => [number, number][];
