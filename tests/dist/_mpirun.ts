/**
 * Helpers of the MPI tests: whether `mpirun` is installed, and a runner with the flags Open MPI
 * needs in a container and as root (`--allow-run-as-root --oversubscribe`, shared-memory
 * transport without single-copy, no core binding).
 */

/** The path of `mpirun`, or null when Open MPI's launcher is not installed. */
export function findMpirun(): string | null {
  for (const dir of (Deno.env.get("PATH") ?? "/usr/bin").split(":")) {
    try {
      const p = `${dir}/mpirun`;
      if (Deno.statSync(p).isFile) return p;
    } catch { /* not here */ }
  }
  return null;
}

/** Why the MPI tests are skipped, or null when they run. */
export const MPI_SKIP = findMpirun() ? null : (
  "skipping the MPI tests: mpirun not found (apt-get install -y openmpi-bin libopenmpi-dev)"
);
if (MPI_SKIP) console.warn(MPI_SKIP);

/** `mpirun` flags and environment for `n` local ranks. */
export function mpirunArgs(n: number): { args: string[]; env: Record<string, string> } {
  const root = Deno.uid?.() === 0;
  return {
    args: [
      "-n",
      String(n),
      ...(root ? ["--allow-run-as-root"] : []),
      "--oversubscribe",
      "--bind-to",
      "none",
      "--mca",
      "btl",
      "self,vader",
      "--mca",
      "btl_vader_single_copy_mechanism",
      "none",
    ],
    env: root ? { OMPI_ALLOW_RUN_AS_ROOT: "1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: "1" } : {},
  };
}

/** What a finished `mpirun` left. */
export interface MpiRunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno run -A SCRIPT ARGS` on `n` ranks and collects the output. */
export async function mpirunDeno(
  n: number,
  script: string,
  args: string[] = [],
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<MpiRunResult> {
  const m = mpirunArgs(n);
  const child = new Deno.Command(findMpirun()!, {
    args: [...m.args, Deno.execPath(), "run", "-A", "--v8-flags=--expose-gc", script, ...args],
    env: { ...m.env, NO_COLOR: "1", ...opts.env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, opts.timeoutMs ?? 300_000);
  const out = await child.output();
  clearTimeout(timer);
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** The JSON lines of `stdout` (other lines skipped). */
export function jsonLines<T>(stdout: string): T[] {
  return stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as T);
}
