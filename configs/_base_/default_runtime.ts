// Runtime defaults, as mmdetection v2's configs/_base_/default_runtime.py.

export const checkpoint_config = { interval: 1 };
// yapf:disable
export const log_config = {
  interval: 50,
  hooks: [
    { type: "TextLoggerHook" },
    // { type: "TensorboardLoggerHook" },
  ],
};
// yapf:enable
export const custom_hooks = [{ type: "NumClassCheckHook" }];

export const dist_params = { backend: "nccl" };
export const log_level = "INFO";
export const load_from = null;
export const resume_from = null;
export const workflow = [["train", 1]];
