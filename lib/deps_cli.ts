// deno-lint-ignore-file no-import-prefix
/**
 * Third-party dependencies of the command line (`lib/cli/`) only, version-pinned; nothing below
 * `lib/cli/` imports them, so neither `mod.ts` nor the browser build pulls them in.
 *
 * @module
 */
export {
  Command,
  CommanderError,
  InvalidArgumentError,
  Option,
} from "npm:@commander-js/extra-typings@15.1.0";
// extra-typings wraps commander; pin the wrapped version too
export type { OptionValues } from "npm:commander@15.1.0";
