/**
 * Open MPI through Deno's FFI: the library is found by its soname and opened with
 * `RTLD_GLOBAL` (Open MPI's own plugins resolve symbols of `libmpi` globally), and the predefined
 * handles (`MPI_COMM_WORLD`, `MPI_FLOAT`, `MPI_SUM`, ...) are the addresses of exported symbols
 * (`&ompi_mpi_comm_world`), looked up with `dlsym`.
 *
 * Collectives are `nonblocking` FFI calls: they run on a thread of Deno's blocking pool, so the
 * event loop stays free (signal listeners, the collective watchdog). MPI is initialised with
 * `MPI_THREAD_MULTIPLE` (at least `MPI_THREAD_SERIALIZED` is required) and every call is
 * serialised by {@link MpiLib.run}.
 *
 * @module
 */

/** Thrown when the MPI library cannot be loaded or initialised; names the packages to install. */
export class DistUnavailableError extends Error {
  /** Creates the error with `message`. */
  constructor(message: string) {
    super(message);
    this.name = "DistUnavailableError";
  }
}

/** Thrown when an MPI call fails or a collective outlives the timeout. */
export class DistError extends Error {
  /** Creates the error with `message`. */
  constructor(message: string) {
    super(message);
    this.name = "DistError";
  }
}

/** Sonames tried in order (Open MPI 4/5 on Linux, then macOS); `WGDET_MPI_LIB` goes first. */
export const MPI_SONAMES = ["libmpi.so.40", "libmpi.so", "libmpi.40.dylib", "libmpi.dylib"];

/** The packages named by {@link DistUnavailableError}. */
export const MPI_INSTALL_HINT =
  'install Open MPI ("apt-get install -y openmpi-bin libopenmpi-dev" on Debian/Ubuntu, ' +
  '"dnf install openmpi openmpi-devel" on Fedora, "brew install open-mpi" on macOS) or set ' +
  "WGDET_MPI_LIB to the path of libmpi";

const RTLD_NOW = 0x2;
const RTLD_GLOBAL_LINUX = 0x100;
const RTLD_GLOBAL_DARWIN = 0x8;
const MPI_THREAD_SERIALIZED = 2;
const MPI_THREAD_MULTIPLE = 3;
const MPI_COMM_TYPE_SHARED = 0;
const MPI_MAX_ERROR_STRING = 256;

const MPI_SYMBOLS = {
  MPI_Init_thread: { parameters: ["pointer", "pointer", "i32", "buffer"], result: "i32" },
  MPI_Initialized: { parameters: ["buffer"], result: "i32" },
  MPI_Finalized: { parameters: ["buffer"], result: "i32" },
  MPI_Finalize: { parameters: [], result: "i32" },
  MPI_Abort: { parameters: ["pointer", "i32"], result: "i32" },
  MPI_Comm_rank: { parameters: ["pointer", "buffer"], result: "i32" },
  MPI_Comm_size: { parameters: ["pointer", "buffer"], result: "i32" },
  MPI_Comm_set_errhandler: { parameters: ["pointer", "pointer"], result: "i32" },
  MPI_Comm_split_type: {
    parameters: ["pointer", "i32", "i32", "pointer", "buffer"],
    result: "i32",
  },
  MPI_Error_string: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  MPI_Get_library_version: { parameters: ["buffer", "buffer"], result: "i32" },
  MPI_Allreduce: {
    parameters: ["pointer", "buffer", "i32", "pointer", "pointer", "pointer"],
    result: "i32",
    nonblocking: true,
  },
  MPI_Bcast: {
    parameters: ["buffer", "i32", "pointer", "i32", "pointer"],
    result: "i32",
    nonblocking: true,
  },
  MPI_Barrier: { parameters: ["pointer"], result: "i32", nonblocking: true },
  MPI_Allgather: {
    parameters: ["buffer", "i32", "pointer", "buffer", "i32", "pointer", "pointer"],
    result: "i32",
    nonblocking: true,
  },
  MPI_Allgatherv: {
    parameters: ["buffer", "i32", "pointer", "buffer", "buffer", "buffer", "pointer", "pointer"],
    result: "i32",
    nonblocking: true,
  },
} as const;

type MpiSymbols = Deno.DynamicLibrary<typeof MPI_SYMBOLS>["symbols"];

/** The predefined handles, as the addresses of Open MPI's exported objects. */
export interface MpiHandles {
  commWorld: Deno.PointerObject;
  float: Deno.PointerObject;
  byte: Deno.PointerObject;
  int: Deno.PointerObject;
  sum: Deno.PointerObject;
  errorsReturn: Deno.PointerObject;
  infoNull: Deno.PointerObject;
  inPlace: Deno.PointerObject;
}

const HANDLE_SYMBOLS: Record<Exclude<keyof MpiHandles, "inPlace">, string> = {
  commWorld: "ompi_mpi_comm_world",
  float: "ompi_mpi_float",
  byte: "ompi_mpi_byte",
  int: "ompi_mpi_int",
  sum: "ompi_mpi_op_sum",
  errorsReturn: "ompi_mpi_errors_return",
  infoNull: "ompi_mpi_info_null",
};

function cstr(s: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(s + "\0");
}

function openLoader() {
  const defs = {
    dlopen: { parameters: ["buffer", "i32"], result: "pointer" },
    dlsym: { parameters: ["pointer", "buffer"], result: "pointer" },
    dlerror: { parameters: [], result: "pointer" },
  } as const;
  const names = Deno.build.os === "darwin"
    ? ["libSystem.B.dylib"]
    : ["libc.so.6", "libdl.so.2", "libc.so"];
  let last = "";
  for (const n of names) {
    try {
      return Deno.dlopen(n, defs);
    } catch (e) {
      last = (e as Error).message;
    }
  }
  throw new DistUnavailableError(
    `Cannot load the dynamic loader (tried ${names.join(", ")}): ${last}`,
  );
}

/** A loaded and initialised MPI library. */
export class MpiLib {
  /** The FFI symbols. */
  readonly fn: MpiSymbols;
  /** The predefined handles. */
  readonly h: MpiHandles;
  /** The path or soname that was opened. */
  readonly path: string;
  /** `MPI_Get_library_version`'s first line. */
  readonly version: string;
  /** The thread level MPI provided. */
  readonly threadLevel: number;
  #queue: Promise<unknown> = Promise.resolve();
  #lib: Deno.DynamicLibrary<typeof MPI_SYMBOLS>;

  private constructor(
    lib: Deno.DynamicLibrary<typeof MPI_SYMBOLS>,
    h: MpiHandles,
    path: string,
    threadLevel: number,
  ) {
    this.#lib = lib;
    this.fn = lib.symbols;
    this.h = h;
    this.path = path;
    this.threadLevel = threadLevel;
    const buf = new Uint8Array(8192), len = new Int32Array(1);
    this.fn.MPI_Get_library_version(buf, len);
    this.version = new TextDecoder().decode(buf.subarray(0, len[0])).split("\n")[0].replace(
      /\0.*$/,
      "",
    );
  }

  /** Opens the library (`WGDET_MPI_LIB`, then {@link MPI_SONAMES}) and calls `MPI_Init_thread`. */
  static open(libPath?: string): MpiLib {
    const loader = openLoader();
    const env = (() => {
      try {
        return Deno.env.get("WGDET_MPI_LIB");
      } catch {
        return undefined;
      }
    })();
    // an explicit path (argument or WGDET_MPI_LIB) is the only one tried
    const tries = libPath ? [libPath] : env ? [env] : MPI_SONAMES;
    const flags = RTLD_NOW | (Deno.build.os === "darwin" ? RTLD_GLOBAL_DARWIN : RTLD_GLOBAL_LINUX);
    let handle: Deno.PointerValue = null;
    let path = "";
    const errs: string[] = [];
    for (const t of tries) {
      handle = loader.symbols.dlopen(cstr(t), flags);
      if (handle) {
        path = t;
        break;
      }
      const e = loader.symbols.dlerror();
      errs.push(e ? new Deno.UnsafePointerView(e).getCString() : `${t}: not found`);
    }
    if (!handle) {
      loader.close();
      throw new DistUnavailableError(
        `Cannot load the MPI library (tried ${tries.join(", ")}): ${hintFor(errs)}`,
      );
    }
    const sym = (name: string): Deno.PointerObject => {
      const p = loader.symbols.dlsym(handle, cstr(name));
      if (!p) {
        throw new DistUnavailableError(
          `The MPI library ${path} has no symbol "${name}": wgdet supports Open MPI (4.x, 5.x) ` +
            `only; ${MPI_INSTALL_HINT}`,
        );
      }
      return p;
    };
    const h = {} as MpiHandles;
    for (const [k, s] of Object.entries(HANDLE_SYMBOLS)) {
      h[k as keyof typeof HANDLE_SYMBOLS] = sym(s);
    }
    h.inPlace = Deno.UnsafePointer.create(1n)!; // MPI_IN_PLACE is ((void *) 1)
    loader.close(); // libmpi stays loaded: Deno.dlopen below takes its own reference
    let lib: Deno.DynamicLibrary<typeof MPI_SYMBOLS>;
    try {
      lib = Deno.dlopen(path, MPI_SYMBOLS);
    } catch (e) {
      throw new DistUnavailableError(
        `Cannot bind the MPI functions of ${path}: ${(e as Error).message}; ${MPI_INSTALL_HINT}`,
      );
    }
    const flag = new Int32Array(1);
    lib.symbols.MPI_Initialized(flag);
    const provided = new Int32Array(1);
    if (!flag[0]) {
      const rc = lib.symbols.MPI_Init_thread(null, null, MPI_THREAD_MULTIPLE, provided);
      if (rc !== 0) throw new DistError(`MPI_Init_thread failed with error code ${rc}`);
    } else provided[0] = MPI_THREAD_MULTIPLE;
    if (provided[0] < MPI_THREAD_SERIALIZED) {
      throw new DistError(
        `MPI provides thread level ${
          provided[0]
        }, wgdet needs MPI_THREAD_SERIALIZED (2) or more: ` +
          "use an Open MPI built with thread support (Debian's is)",
      );
    }
    const m = new MpiLib(lib, h, path, provided[0]);
    m.check(
      lib.symbols.MPI_Comm_set_errhandler(h.commWorld, h.errorsReturn),
      "MPI_Comm_set_errhandler",
    );
    return m;
  }

  /** Throws a {@link DistError} with MPI's error string unless `rc` is `MPI_SUCCESS`. */
  check(rc: number, what: string): void {
    if (rc === 0) return;
    const buf = new Uint8Array(MPI_MAX_ERROR_STRING + 1), len = new Int32Array(1);
    this.fn.MPI_Error_string(rc, buf, len);
    const msg = new TextDecoder().decode(buf.subarray(0, len[0]));
    throw new DistError(`${what} failed: ${msg || `error code ${rc}`}`);
  }

  /** Runs `f` after every earlier call has finished (MPI calls never overlap). */
  run<T>(f: () => Promise<T>): Promise<T> {
    const p = this.#queue.then(f, f);
    this.#queue = p.catch(() => {});
    return p;
  }

  /** `MPI_Comm_rank` and `MPI_Comm_size` of `MPI_COMM_WORLD`, and the rank within the node. */
  ranks(): { rank: number; worldSize: number; localRank: number; localSize: number } {
    const r = new Int32Array(1), s = new Int32Array(1);
    this.check(this.fn.MPI_Comm_rank(this.h.commWorld, r), "MPI_Comm_rank");
    this.check(this.fn.MPI_Comm_size(this.h.commWorld, s), "MPI_Comm_size");
    const local = new BigUint64Array(1); // an MPI_Comm is a pointer in Open MPI
    this.check(
      this.fn.MPI_Comm_split_type(
        this.h.commWorld,
        MPI_COMM_TYPE_SHARED,
        r[0],
        this.h.infoNull,
        local,
      ),
      "MPI_Comm_split_type",
    );
    const comm = Deno.UnsafePointer.create(local[0]);
    const lr = new Int32Array(1), ls = new Int32Array(1);
    this.check(this.fn.MPI_Comm_rank(comm, lr), "MPI_Comm_rank(node)");
    this.check(this.fn.MPI_Comm_size(comm, ls), "MPI_Comm_size(node)");
    return { rank: r[0], worldSize: s[0], localRank: lr[0], localSize: ls[0] };
  }

  /** `MPI_Finalize` (idempotent). */
  finalize(): void {
    const f = new Int32Array(1);
    this.fn.MPI_Finalized(f);
    if (!f[0]) this.fn.MPI_Finalize();
  }

  /** `MPI_Abort(MPI_COMM_WORLD, code)`: ends every rank of the job. */
  abort(code: number): void {
    this.fn.MPI_Abort(this.h.commWorld, code);
  }
}

function hintFor(errs: string[]): string {
  return `${MPI_INSTALL_HINT} (${errs.join("; ")})`;
}
