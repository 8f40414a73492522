import { assert } from "../_assert.ts";
import { directConvSuits } from "../../lib/gpu/device.ts";

const LAVAPIPE = {
  vendor: "mesa",
  architecture: "",
  description: "llvmpipe (LLVM 15.0.6, 256 bits)",
  device: "llvmpipe",
};
const SWIFTSHADER = { vendor: "google", architecture: "swiftshader", description: "" };
const NVIDIA = { vendor: "nvidia", architecture: "hopper", description: "NVIDIA H200" };

Deno.test("direct conv kernels: lavapipe-like CPU adapters only, not SwiftShader or GPUs", () => {
  const saved = Deno.env.get("WGDET_DIRECT_CONV");
  Deno.env.delete("WGDET_DIRECT_CONV");
  try {
    assert.equal(directConvSuits(LAVAPIPE, true), true);
    assert.equal(directConvSuits(SWIFTSHADER, true), false);
    assert.equal(
      directConvSuits(
        { vendor: "google", architecture: "", description: "SwiftShader Device" },
        true,
      ),
      false,
    );
    assert.equal(directConvSuits(NVIDIA, false), false);
    Deno.env.set("WGDET_DIRECT_CONV", "1");
    assert.equal(directConvSuits(SWIFTSHADER, true), true);
    Deno.env.set("WGDET_DIRECT_CONV", "0");
    assert.equal(directConvSuits(LAVAPIPE, true), false);
  } finally {
    if (saved === undefined) Deno.env.delete("WGDET_DIRECT_CONV");
    else Deno.env.set("WGDET_DIRECT_CONV", saved);
  }
});
