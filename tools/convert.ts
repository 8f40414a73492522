/** `deno task convert IN OUT`: .pth ↔ .safetensors (see lib/runner/convert.ts). */
import { CONVERT_HELP, convertMain } from "../lib/runner/convert.ts";
import { parseCli, usageError } from "./_args.ts";

const { positionals } = await parseCli({ usage: CONVERT_HELP, options: {}, positionals: true });
if (positionals.length !== 2) usageError(`expected IN OUT, got ${positionals.length} argument(s)`);
Deno.exit(await convertMain(positionals));
