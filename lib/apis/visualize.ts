/**
 * Drawing detections onto images (`--show-dir`, `deno task infer`): boxes, class names and scores.
 *
 * @module
 */
import type { HwcImage } from "../datasets/image_io.ts";
import { Raster, type Rgb } from "../runner/plot.ts";

const COLORS: Rgb[] = [
  [230, 25, 75],
  [60, 180, 75],
  [0, 130, 200],
  [245, 130, 48],
  [145, 30, 180],
  [70, 240, 240],
  [240, 50, 230],
  [210, 245, 60],
  [250, 190, 190],
  [0, 128, 128],
  [170, 110, 40],
  [128, 0, 0],
];

/**
 * Draws `result` (per class `[m, 5]` rows `x1, y1, x2, y2, score` in the image's pixels) onto a copy
 * of `img` (BGR or gray, uint8) and returns an RGBA raster. Detections below `scoreThr` are skipped.
 */
export function drawDetections(
  img: HwcImage,
  result: Float32Array[],
  opts: { classes: readonly string[]; scoreThr?: number; showScore?: boolean },
): Raster {
  const r = new Raster(img.width, img.height);
  const c = img.channels;
  for (let i = 0; i < img.width * img.height; i++) {
    const v = (k: number) => img.data[i * c + (c === 1 ? 0 : k)];
    r.data[i * 4] = v(2); // BGR → RGB
    r.data[i * 4 + 1] = v(1);
    r.data[i * 4 + 2] = v(0);
    r.data[i * 4 + 3] = 255;
  }
  const thr = opts.scoreThr ?? 0.3;
  const scale = img.width >= 640 ? 2 : 1; // text scale and line thickness
  const drawn: { box: number[]; col: Rgb; label: string; w: number; h: number }[] = [];
  result.forEach((dets, cls) => {
    const col = COLORS[cls % COLORS.length];
    for (let k = 0; k + 4 < dets.length; k += 5) {
      const [x1, y1, x2, y2, s] = dets.subarray(k, k + 5);
      if (!(s >= thr)) continue;
      r.line(x1, y1, x2, y1, col, scale);
      r.line(x2, y1, x2, y2, col, scale);
      r.line(x2, y2, x1, y2, col, scale);
      r.line(x1, y2, x1, y1, col, scale);
      const name = String(opts.classes[cls] ?? cls);
      const label = opts.showScore === false ? name : `${name} ${s.toFixed(2)}`;
      drawn.push({
        box: [x1, y1, x2, y2],
        col,
        label,
        w: Raster.textWidth(label, scale) + 2 * scale,
        h: 9 * scale,
      });
    }
  });
  // labels after all boxes, inside the image and apart from each other
  const places = placeLabels(
    drawn.map((d) => ({ box: d.box, w: d.w, h: d.h })),
    img.width,
    img.height,
  );
  drawn.forEach((d, i) => {
    const [x, y] = places[i];
    r.rect(x, y, d.w, d.h, d.col);
    r.text(x + scale, y + scale, d.label, [255, 255, 255], scale);
  });
  return r;
}

/**
 * Where the label of each box goes: `[x, y]` of a `w × h` tag, above the box's top-left corner
 * (inside the box when there is no room above), moved inside the image, and moved to the nearest
 * height just below or above a label placed before it when it would overlap one (where the image
 * has room).
 */
export function placeLabels(
  items: { box: ArrayLike<number>; w: number; h: number }[],
  width: number,
  height: number,
): [number, number][] {
  const placed: [number, number, number, number][] = [];
  const clamp = (v: number, hi: number) => Math.max(0, Math.min(Math.max(0, hi), v));
  const overlaps = (x: number, y: number, w: number, h: number) =>
    placed.some(([px, py, pw, ph]) => x < px + pw && px < x + w && y < py + ph && py < y + h);
  return items.map(({ box, w, h }) => {
    const x = clamp(Math.floor(box[0]), width - w);
    const pref = clamp(Math.floor(box[1] - h >= 0 ? box[1] - h : box[1]), height - h);
    // the nearest free row: just below or above an already placed label
    const cands = [pref, ...placed.flatMap(([, py, , ph]) => [py + ph, py - h])]
      .filter((c) => c >= 0 && c + h <= height)
      .sort((p1, p2) => Math.abs(p1 - pref) - Math.abs(p2 - pref));
    const y = cands.find((c) => !overlaps(x, c, w, h)) ?? pref;
    placed.push([x, y, w, h]);
    return [x, y];
  });
}
