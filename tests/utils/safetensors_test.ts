import { assert } from "../_assert.ts";
import { decodeSafetensors, encodeSafetensors } from "../../lib/utils/safetensors.ts";

Deno.test("encodeSafetensors/decodeSafetensors round-trip every dtype, shapes and metadata", () => {
  const tensors = {
    "a.weight": {
      dtype: "F32" as const,
      shape: [2, 3],
      data: new Float32Array([1, -2, 3.5, 0, 1e-8, -0]),
    },
    "b.count": { dtype: "I64" as const, shape: [], data: new BigInt64Array([123456789012n]) },
    "c.mask": { dtype: "U8" as const, shape: [3], data: new Uint8Array([0, 1, 255]) },
    "d.idx": { dtype: "I32" as const, shape: [2, 1], data: new Int32Array([-7, 7]) },
    "e.f64": { dtype: "F64" as const, shape: [1], data: new Float64Array([Math.PI]) },
    "f.half": { dtype: "F16" as const, shape: [2], data: new Uint16Array([0x3c00, 0xc000]) },
    "g.empty": { dtype: "F32" as const, shape: [0, 4], data: new Float32Array(0) },
  };
  const bytes = encodeSafetensors(tensors, { format: "pt", epoch: "3" });
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(headerLen % 8, 0, "header is padded to 8 bytes");
  assert.equal(String.fromCharCode(bytes[8]), "{");
  const back = decodeSafetensors(bytes);
  assert.deepEqual(back.metadata, { format: "pt", epoch: "3" });
  assert.deepEqual(
    Object.keys(back.tensors),
    Object.keys(tensors),
    "header keeps the caller's order",
  );
  for (const [k, t] of Object.entries(tensors)) {
    assert.equal(back.tensors[k].dtype, t.dtype, k);
    assert.deepEqual(back.tensors[k].shape, t.shape, k);
    assert.deepEqual(back.tensors[k].data, t.data, k);
  }
});

Deno.test("encodeSafetensors lays the data out without gaps, largest element size first", () => {
  const bytes = encodeSafetensors({
    u8: { dtype: "U8", shape: [3], data: new Uint8Array(3) },
    f32: { dtype: "F32", shape: [1], data: new Float32Array(1) },
    i64: { dtype: "I64", shape: [1], data: new BigInt64Array(1) },
  });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  assert.deepEqual(header.i64.data_offsets, [0, 8]);
  assert.deepEqual(header.f32.data_offsets, [8, 12]);
  assert.deepEqual(header.u8.data_offsets, [12, 15]);
  assert.equal(bytes.length, 8 + n + 15);
});

Deno.test("decodeSafetensors reads a file written by Python (tools/make_safetensors_fixture.py)", async () => {
  const bytes = await Deno.readFile(
    new URL("../fixtures/utils/python_written.safetensors", import.meta.url),
  );
  const { tensors, metadata } = decodeSafetensors(bytes);
  assert.deepEqual(metadata, { format: "pt", note: "written by hand in Python" });
  assert.deepEqual(tensors["backbone.conv1.weight"].shape, [2, 1, 2, 2]);
  assert.deepEqual([...tensors["backbone.conv1.weight"].data], [-1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5]);
  assert.deepEqual(tensors["backbone.bn1.num_batches_tracked"], {
    dtype: "I64",
    shape: [],
    data: new BigInt64Array([7n]),
  });
  assert.deepEqual([...tensors["labels"].data], [1, -2, 3, -4]);
  assert.deepEqual([...tensors["mask"].data], [0, 1, 255]);
  assert.equal(tensors["bbox_head.retina_cls.bias"].data[0], Math.fround(-4.59511985013459));
  // and our encoder writes the same bytes for the same tensors in the reference order
  const again = encodeSafetensors(
    Object.fromEntries(
      [
        "backbone.bn1.num_batches_tracked",
        "backbone.conv1.weight",
        "bbox_head.retina_cls.bias",
        "labels",
        "mask",
      ].map((k) => [k, tensors[k]]),
    ),
    { format: "pt", note: "written by hand in Python" },
  );
  assert.deepEqual(again, bytes);
});

Deno.test("decodeSafetensors names the file and the problem for truncated or corrupt input", () => {
  const good = encodeSafetensors({ w: { dtype: "F32", shape: [4], data: new Float32Array(4) } });
  assert.throws(
    () => decodeSafetensors(good.subarray(0, 5), "x.safetensors"),
    /Cannot decode safetensors "x\.safetensors": file is 5 bytes/,
  );
  assert.throws(
    () => decodeSafetensors(good.subarray(0, 20), "x.safetensors"),
    /header length \d+ exceeds the file size/,
  );
  assert.throws(
    () => decodeSafetensors(good.subarray(0, good.length - 4), "x.safetensors"),
    /outside the 12-byte data section/,
  );
  const bad = good.slice();
  bad[8] = 0x5b; // "[" breaks the JSON
  assert.throws(() => decodeSafetensors(bad, "x.safetensors"), SyntaxError);
});

Deno.test("encodeSafetensors rejects a shape that does not match the data", () => {
  assert.throws(
    () => encodeSafetensors({ w: { dtype: "F32", shape: [2, 2], data: new Float32Array(3) } }),
    /Cannot encode tensor "w": shape \[2,2\] \(4 elements of 4 bytes\) does not match data of 3 elements/,
  );
  assert.throws(
    () => encodeSafetensors({ w: { dtype: "I32", shape: [1], data: new Float32Array(1) } }),
    TypeError,
  );
});
