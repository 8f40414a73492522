/**
 * `RetinaNet` (Lin et al., "Focal Loss for Dense Object Detection"): a `SingleStageDetector`
 * with a `RetinaHead`; the whole difference lies in the config.
 *
 * @module
 */
import { DETECTORS } from "../registry.ts";
import { SingleStageDetector, type SingleStageDetectorCfg } from "./single_stage.ts";

/**
 * RetinaNet, built from `configs/retinanet/*.ts` with `buildDetector(cfg.model)`.
 *
 * @example
 * ```ts ignore
 * import { buildDetector } from "../builder.ts";
 * const model = buildDetector({ type: "RetinaNet", backbone: {...}, neck: {...}, bbox_head: {...},
 *   train_cfg: {...}, test_cfg: {...} });
 * const { loss, log_vars } = model.trainStep(batch);
 * ```
 */
export class RetinaNet extends SingleStageDetector {
  /** Builds backbone, neck and head from `cfg` (see `SingleStageDetector`). */
  constructor(cfg: SingleStageDetectorCfg) {
    super(cfg);
  }
}

DETECTORS.register("SingleStageDetector", SingleStageDetector);
DETECTORS.register("RetinaNet", RetinaNet);
