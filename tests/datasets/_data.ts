/** Shared test data locations and small fixture builders for dataset tests. */
import { encodePng } from "../../lib/datasets/image_io.ts";

/** The BCCD VOC dataset (read-only, beside the repository in `../shared`). */
export const BCCD: string = Deno.env.get("WGDET_BCCD") ??
  new URL("../../../shared/data/bccd/BCCD/", import.meta.url).pathname;

/** Whether the BCCD copy is present (tests that need it are skipped otherwise). */
export const hasBccd: boolean = (() => {
  try {
    return Deno.statSync(`${BCCD}/Annotations`).isDirectory;
  } catch {
    return false;
  }
})();

/** BCCD class names. */
export const BCCD_CLASSES = ["RBC", "WBC", "Platelets"];

/** Writes a solid-colour RGB PNG of `w`×`h` to `path`. */
export function writeSolidPng(
  path: string,
  w: number,
  h: number,
  rgb: [number, number, number] = [90, 120, 150],
): void {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) data.set(rgb, i * 3);
  Deno.writeFileSync(path, encodePng({ data, width: w, height: h, channels: 3 }, { bgr: false }));
}

/** A VOC annotation XML text. */
export function vocXml(
  objects: { name: string; box: [number, number, number, number]; difficult?: number }[],
  size: [number, number] | null = [64, 48],
): string {
  const sz = size
    ? `<size><width>${size[0]}</width><height>${size[1]}</height><depth>3</depth></size>`
    : "";
  const objs = objects.map((o) =>
    `<object><name>${o.name}</name><difficult>${o.difficult ?? 0}</difficult><bndbox><xmin>${
      o.box[0]
    }</xmin>` +
    `<ymin>${o.box[1]}</ymin><xmax>${o.box[2]}</xmax><ymax>${o.box[3]}</ymax></bndbox></object>`
  ).join("");
  return `<annotation><filename>x.jpg</filename>${sz}${objs}</annotation>`;
}
