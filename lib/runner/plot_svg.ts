/**
 * Training curves as SVG (vector, with real, selectable, mixed-case text): one panel per key
 * (`loss_cls`, `lr`, `bbox_mAP`, …), one line per run, a legend, optional log scale per panel.
 * mmdetection's `tools/analysis_tools/analyze_logs.py plot_curve` in TS.
 *
 * @module
 */
import { type JsonLogRecord, niceTicks } from "./plot.ts";
import { platform } from "../platform/mod.ts";

/** One run's records (a `*.log.json`), named in the legend. */
export interface CurveRun {
  /** Legend name, e.g. the log file's name. */
  name: string;
  /** The JSON log records (`mode: "train"` and `"val"`). */
  records: JsonLogRecord[];
}

/** Options of {@linkcode renderCurvesSvg}. */
export interface CurvesSvgOptions {
  /** Keys to plot (default: `loss` and `lr` when logged, and the `bbox_mAP` of val records). */
  keys?: string[];
  /** Keys drawn on a log-10 y axis (e.g. `["lr"]`). */
  logScale?: string[];
  /** Chart title. */
  title?: string;
  /** Width in px (default 900). */
  width?: number;
}

const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

function fmt(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(1).replace("e+", "e");
  return String(Number(v.toPrecision(4)));
}

/**
 * The points of `key` in a run: train records at fractional epochs `epoch − 1 + iter/n` (n the
 * largest logged iteration of the epoch), val records at their epoch.
 */
export function curvePoints(records: JsonLogRecord[], key: string): [number, number][] {
  const perEpoch = new Map<number, number>();
  for (const r of records) {
    if (r.mode === "train" && typeof r.iter === "number" && typeof r.epoch === "number") {
      perEpoch.set(r.epoch, Math.max(perEpoch.get(r.epoch) ?? 0, r.iter));
    }
  }
  const out: [number, number][] = [];
  for (const r of records) {
    const v = r[key];
    if (typeof v !== "number" || !Number.isFinite(v) || typeof r.epoch !== "number") continue;
    if (r.mode === "train" && typeof r.iter === "number") {
      out.push([r.epoch - 1 + r.iter / (perEpoch.get(r.epoch) ?? 1), v]);
    } else if (r.mode === "val") out.push([r.epoch, v]);
  }
  return out;
}

/** The default keys: `loss`, `lr` and `bbox_mAP` (or `mAP`) where logged. */
export function defaultCurveKeys(runs: CurveRun[]): string[] {
  const has = (k: string) => runs.some((r) => r.records.some((x) => typeof x[k] === "number"));
  return ["loss", "lr", "bbox_mAP", "mAP"].filter(has);
}

/** Renders the runs' curves as an SVG document. */
export function renderCurvesSvg(runs: CurveRun[], opts: CurvesSvgOptions = {}): string {
  const keys = opts.keys?.length ? opts.keys : defaultCurveKeys(runs);
  const width = opts.width ?? 900;
  const ph = 240, top = 50, left = 80, right = 20, gap = 30;
  const legendH = 20 * runs.length + 10;
  const height = top + keys.length * (ph + gap) + legendH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="28" font-size="18">${esc(opts.title ?? "Training curves")}</text>`,
  ];
  keys.forEach((key, ki) => {
    const y0 = top + ki * (ph + gap);
    const w = width - left - right, h = ph - 40;
    const log = opts.logScale?.includes(key) ?? false;
    const series = runs.map((r) => curvePoints(r.records, key));
    const pts = series.flat().filter(([, v]) => !log || v > 0);
    out.push(`<g class="panel" data-key="${esc(key)}">`);
    out.push(
      `<text x="${left}" y="${y0 + 12}" font-size="14">${esc(key)}${
        log ? " (log scale)" : ""
      }</text>`,
    );
    const px = left, py = y0 + 20;
    out.push(`<rect x="${px}" y="${py}" width="${w}" height="${h}" fill="none" stroke="#444"/>`);
    if (!pts.length) {
      out.push(
        `<text x="${px + w / 2}" y="${py + h / 2}" text-anchor="middle" fill="#888">no "${
          esc(key)
        }" values in the logs</text>`,
      );
      out.push("</g>");
      return;
    }
    const xs = pts.map((p) => p[0]), ys = pts.map((p) => log ? Math.log10(p[1]) : p[1]);
    const xLo = Math.min(0, ...xs);
    let xHi = Math.max(...xs);
    if (xHi <= xLo) xHi = xLo + 1;
    let yLo = Math.min(...ys), yHi = Math.max(...ys);
    if (yHi <= yLo) {
      yLo -= 0.5;
      yHi += 0.5;
    }
    const pad = (yHi - yLo) * 0.05;
    yLo -= pad;
    yHi += pad;
    if (!log && Math.min(...ys) >= 0 && yLo < 0) yLo = 0;
    const sx = (x: number) => px + ((x - xLo) / (xHi - xLo)) * w;
    const sy = (y: number) => py + h - ((y - yLo) / (yHi - yLo)) * h;
    const yTicks = log
      ? Array.from(
        { length: Math.floor(yHi) - Math.ceil(yLo) + 1 },
        (_, i) => Math.ceil(yLo) + i,
      )
      : niceTicks(yLo, yHi, 5);
    for (const t of yTicks) {
      if (t < yLo || t > yHi) continue;
      const y = sy(t);
      out.push(
        `<line x1="${px}" y1="${y.toFixed(1)}" x2="${px + w}" y2="${y.toFixed(1)}" stroke="#ddd"/>`,
      );
      out.push(
        `<text x="${px - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end">${
          log ? `1e${t}` : fmt(t)
        }</text>`,
      );
    }
    for (const t of niceTicks(xLo, xHi, 8)) {
      if (t < xLo || t > xHi) continue;
      const x = sx(t);
      out.push(
        `<line x1="${x.toFixed(1)}" y1="${py + h}" x2="${x.toFixed(1)}" y2="${
          py + h + 4
        }" stroke="#444"/>`,
      );
      out.push(
        `<text x="${x.toFixed(1)}" y="${py + h + 16}" text-anchor="middle">${fmt(t)}</text>`,
      );
    }
    out.push(`<text x="${px + w}" y="${py + h + 30}" text-anchor="end">epoch</text>`);
    series.forEach((s, ri) => {
      const ok = s.filter(([, v]) => !log || v > 0);
      if (!ok.length) return;
      const color = COLORS[ri % COLORS.length];
      const d = ok.map(([x, v]) => `${sx(x).toFixed(1)},${sy(log ? Math.log10(v) : v).toFixed(1)}`)
        .join(" ");
      out.push(
        `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${d}"><title>${
          esc(runs[ri].name)
        } ${esc(key)}</title></polyline>`,
      );
      if (ok.length <= 30) {
        for (const [x, v] of ok) {
          out.push(
            `<circle cx="${sx(x).toFixed(1)}" cy="${
              sy(log ? Math.log10(v) : v).toFixed(1)
            }" r="2.5" fill="${color}"/>`,
          );
        }
      }
    });
    out.push("</g>");
  });
  const ly = top + keys.length * (ph + gap);
  runs.forEach((r, i) => {
    const y = ly + i * 20;
    const color = COLORS[i % COLORS.length];
    out.push(
      `<line x1="${left}" y1="${y}" x2="${
        left + 24
      }" y2="${y}" stroke="${color}" stroke-width="3"/>`,
    );
    out.push(`<text x="${left + 30}" y="${y + 4}">${esc(r.name)}</text>`);
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}

/** Reads the records of one `*.log.json` file (lines cut by a crash are skipped). */
export async function readJsonLogFile(path: string): Promise<JsonLogRecord[]> {
  const text = await platform().readTextFile(path).catch((e) => {
    throw platform().notFound(`Cannot read log "${path}": ${(e as Error).message}`);
  });
  const out: JsonLogRecord[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const rec = JSON.parse(line);
      if (rec && typeof rec === "object" && "mode" in rec) out.push(rec);
    } catch {
      // a line cut by a crash
    }
  }
  return out;
}
