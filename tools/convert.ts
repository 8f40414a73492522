/** `deno task convert IN OUT`: .pth ↔ .safetensors (see lib/runner/convert.ts). */
import { convertMain } from "../lib/runner/convert.ts";

Deno.exit(await convertMain(Deno.args));
