/**
 * Config loading and merging with mmcv's semantics (`_base_`, `_delete_`, `--cfg-options`), and
 * dumping the merged result.
 *
 * @example
 * ```ts ignore
 * import { applyCfgOptions, dumpConfig, loadConfig } from "./mod.ts";
 * const cfg = await loadConfig("configs/retinanet/retinanet_tiny_shapes.ts");
 * applyCfgOptions(cfg, ["runner.max_epochs=2"]);
 * await Deno.writeTextFile("merged.ts", dumpConfig(cfg));
 * ```
 *
 * @module
 */
export {
  BASE_KEY,
  type CfgDict,
  type CfgValue,
  Config,
  DELETE_KEY,
  displayName,
  isDict,
  loadConfig,
  mergeAIntoB,
  type MergeOptions,
  setAllowRemoteConfig,
  toConfigUrl,
} from "./config.ts";
export {
  applyCfgOptions,
  type ApplyCfgOptionsOptions,
  type CfgOption,
  mergeFromDict,
  parseCfgOptions,
  parseCfgOptionValue,
} from "./cfg_options.ts";
export { dumpConfig, type DumpOptions } from "./dump.ts";
export { checkConfigKeys, MMDET_TOP_LEVEL_KEYS } from "./check_keys.ts";
export { customImportList, customImportUrl, importCustomModules } from "./custom_imports.ts";
export { ConfigError } from "../utils/errors.ts";
