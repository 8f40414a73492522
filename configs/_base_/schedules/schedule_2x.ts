// The 24-epoch schedule, as mmdetection v2's configs/_base_/schedules/schedule_2x.py.

export const optimizer = { type: "SGD", lr: 0.02, momentum: 0.9, weight_decay: 0.0001 };
export const optimizer_config = { grad_clip: null };
// learning policy
export const lr_config = {
  policy: "step",
  warmup: "linear",
  warmup_iters: 500,
  warmup_ratio: 0.001,
  step: [16, 22],
};
export const runner = { type: "EpochBasedRunner", max_epochs: 24 };
