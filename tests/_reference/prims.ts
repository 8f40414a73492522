/**
 * Plain float64 CPU references of the tensor primitives: the living definition each GPU kernel is
 * checked against. Arrays are flat row-major.
 */

export function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  return Array.from({ length: r }, (_, i) => {
    const da = a[a.length - r + i] ?? 1, db = b[b.length - r + i] ?? 1;
    return da === 1 ? db : da;
  });
}

function bIndex(coord: number[], shape: readonly number[]): number {
  const off = coord.length - shape.length;
  const st = strides(shape);
  let k = 0;
  for (let i = 0; i < shape.length; i++) k += (shape[i] === 1 ? 0 : coord[i + off]) * st[i];
  return k;
}

function coords(i: number, shape: readonly number[]): number[] {
  const c = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    c[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return c;
}

export function binary(
  a: Float64Array,
  as: readonly number[],
  b: Float64Array,
  bs: readonly number[],
  f: (x: number, y: number) => number,
): Float64Array {
  const os = broadcastShape(as, bs);
  const out = new Float64Array(size(os));
  for (let i = 0; i < out.length; i++) {
    const c = coords(i, os);
    out[i] = f(a[bIndex(c, as)], b[bIndex(c, bs)]);
  }
  return out;
}

export function unary(a: Float64Array, f: (x: number) => number): Float64Array {
  return a.map(f);
}

export function reduce(
  a: Float64Array,
  shape: readonly number[],
  axes: number[],
  f: (acc: number, x: number) => number,
  init: number,
): Float64Array {
  const os = shape.filter((_, i) => !axes.includes(i));
  const out = new Float64Array(size(os)).fill(init);
  for (let i = 0; i < a.length; i++) {
    const c = coords(i, shape).filter((_, d) => !axes.includes(d));
    let k = 0;
    const st = strides(os);
    c.forEach((v, d) => (k += v * st[d]));
    out[k] = f(out[k], a[i]);
  }
  return out;
}

export function matmul(
  a: Float64Array,
  b: Float64Array,
  batch: number,
  m: number,
  k: number,
  n: number,
  o: { transA?: boolean; transB?: boolean; aBatched?: boolean; bBatched?: boolean } = {},
): Float64Array {
  const out = new Float64Array(batch * m * n);
  for (let t = 0; t < batch; t++) {
    const ao = o.aBatched === false ? 0 : t * m * k, bo = o.bBatched === false ? 0 : t * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) {
          const av = o.transA ? a[ao + q * m + i] : a[ao + i * k + q];
          const bv = o.transB ? b[bo + j * k + q] : b[bo + q * n + j];
          s += av * bv;
        }
        out[t * m * n + i * n + j] = s;
      }
    }
  }
  return out;
}

export function permute(a: Float64Array, shape: readonly number[], dims: number[]): Float64Array {
  const os = dims.map((d) => shape[d]);
  const st = strides(shape);
  const out = new Float64Array(a.length);
  for (let i = 0; i < out.length; i++) {
    const c = coords(i, os);
    let k = 0;
    c.forEach((v, d) => (k += v * st[dims[d]]));
    out[i] = a[k];
  }
  return out;
}

export function slice(
  a: Float64Array,
  shape: readonly number[],
  starts: number[],
  ends: number[],
): Float64Array {
  const os = starts.map((s, i) => ends[i] - s);
  const st = strides(shape);
  const out = new Float64Array(size(os));
  for (let i = 0; i < out.length; i++) {
    const c = coords(i, os);
    let k = 0;
    c.forEach((v, d) => (k += (v + starts[d]) * st[d]));
    out[i] = a[k];
  }
  return out;
}

export function concat(xs: Float64Array[], shapes: number[][], axis: number): Float64Array {
  const os = [...shapes[0]];
  os[axis] = shapes.reduce((s, sh) => s + sh[axis], 0);
  const out = new Float64Array(size(os));
  const ost = strides(os);
  let off = 0;
  xs.forEach((x, t) => {
    for (let i = 0; i < x.length; i++) {
      const c = coords(i, shapes[t]);
      c[axis] += off;
      out[c.reduce((acc, v, d) => acc + v * ost[d], 0)] = x[i];
    }
    off += shapes[t][axis];
  });
  return out;
}

export function gather(
  a: Float64Array,
  shape: readonly number[],
  idx: number[],
  axis: number,
): Float64Array {
  const os = [...shape];
  os[axis] = idx.length;
  const st = strides(shape);
  const out = new Float64Array(size(os));
  for (let i = 0; i < out.length; i++) {
    const c = coords(i, os);
    const j = idx[c[axis]];
    if (j < 0 || j >= shape[axis]) continue;
    c[axis] = j;
    out[i] = a[c.reduce((acc, v, d) => acc + v * st[d], 0)];
  }
  return out;
}

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
