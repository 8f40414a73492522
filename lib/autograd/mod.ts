/**
 * Tensors with automatic differentiation.
 *
 * @module
 */
export * from "./tensor.ts";
export * from "./tape.ts";
export * from "./functional.ts";
export { unbroadcast } from "./gradients.ts";
