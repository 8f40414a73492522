/**
 * `lib/nn`: `Module` and the layers built on it — `Conv2d`, `BatchNorm2d`, `GroupNorm`, `ReLU`,
 * `MaxPool2d`, `Sequential`, `ConvModule` — mmcv's `build_*_layer` helpers and init functions.
 *
 * @module
 */
export * from "./module.ts";
export * from "./init.ts";
export * from "./conv.ts";
export * from "./norm.ts";
export * from "./layers.ts";
export * from "./conv_module.ts";
export * from "./linear.ts";
