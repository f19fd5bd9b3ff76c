// Our WASI preview 1 shim, loaded next to a raw WebAssembly command in the job's isolate
// (and unit-tested with `node --test src/workerd/js/`).
//
// A job's program sees: stdin = the job's input, stdout = its output (bounded: past the cap
// the program is stopped, the output is too large anyway), stderr discarded (nothing is
// kept), `args` = the program name only, an empty environment, the clocks and `random_get` of
// a JS job. There is no file system and no socket: every other WASI function answers ENOSYS,
// and an import from any other module fails to link. Nothing here is trusted by the loader:
// it only observes whether the job's call resolved or threw.

export const WASI_MODULE = "wasi_snapshot_preview1";
export const PROGRAM_NAME = "job";

const ERRNO = Object.freeze({ SUCCESS: 0, BADF: 8, FAULT: 21, INVAL: 28, NOSYS: 52, SPIPE: 70 });
const FILETYPE_CHARACTER_DEVICE = 2;
const RIGHTS_ALL = 0xffffffffffffffffn;
const CLOCK_RESOLUTION_NS = 1_000_000n;
const RANDOM_CHUNK = 65536;

/** Thrown by `proc_exit`: unwinds the program's stack to `runCommand`. */
export class Exit {
  constructor(code) {
    this.code = code;
  }
}

/** Thrown when stdout grows past the cap: nothing the program does after can be output. */
export class OutputTooLarge {}

/** Why `module` cannot run as a WASI command; `null` when it can. */
export function linkProblem(module) {
  for (const { module: from, name, kind } of WebAssembly.Module.imports(module)) {
    if (from !== WASI_MODULE || kind !== "function") return `unknown import ${from}.${name}`;
  }
  const exports = new Map(WebAssembly.Module.exports(module).map((e) => [e.name, e.kind]));
  if (exports.get("_start") !== "function") return "no _start function";
  if (exports.get("memory") !== "memory") return "no exported memory";
  return null;
}

/**
 * Runs a WASI command to its end. Resolves to its stdout when it returns from `_start` or
 * exits with status 0; throws on a trap, a non-zero exit, or stdout past `cap` bytes
 * ([`OutputTooLarge`]).
 */
export function runCommand(module, input, cap) {
  const system = new System(input, cap);
  const instance = new WebAssembly.Instance(module, { [WASI_MODULE]: system.imports(module) });
  system.memory = instance.exports.memory;
  try {
    instance.exports._start();
  } catch (error) {
    if (!(error instanceof Exit) || error.code !== 0) throw error;
  }
  return system.stdout();
}

/** The state one run of a command sees: its stdin, stdout and memory. */
export class System {
  constructor(input, cap) {
    this.input = input;
    this.inputOffset = 0;
    this.cap = cap;
    this.chunks = [];
    this.written = 0;
    this.memory = null;
  }

  /**
   * The import object for `module`: our function for each WASI name, ENOSYS for the rest.
   * Closures, not `bind`: workerd builds a slower import wrapper for a bound function, which
   * cost a fresh isolate ≈ 0.8 ms per job (measured with workerd 2026-11-17, echo command).
   */
  imports(module) {
    const imports = {};
    const system = this;
    for (const { name } of WebAssembly.Module.imports(module)) {
      const call = Object.hasOwn(CALLS, name) ? CALLS[name] : null;
      imports[name] = call === null ? () => ERRNO.NOSYS : (a, b, c, d) => call(system, a, b, c, d);
    }
    return imports;
  }

  view() {
    return new DataView(this.memory.buffer);
  }

  bytes(pointer, length) {
    return new Uint8Array(this.memory.buffer, pointer, length);
  }

  /** The (pointer, length) pairs of an iovec array. */
  iovecs(pointer, count) {
    const view = this.view();
    const vectors = [];
    for (let i = 0; i < count; i++) {
      vectors.push([view.getUint32(pointer + 8 * i, true), view.getUint32(pointer + 8 * i + 4, true)]);
    }
    return vectors;
  }

  write(chunk) {
    this.written += chunk.byteLength;
    if (this.written > this.cap) throw new OutputTooLarge();
    this.chunks.push(chunk.slice());
  }

  stdout() {
    const whole = new Uint8Array(this.written);
    let offset = 0;
    for (const chunk of this.chunks) {
      whole.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return whole;
  }
}

/** Runs `body`; a pointer outside the memory (a RangeError) is EFAULT, as in a real kernel. */
function guarded(body) {
  try {
    return body();
  } catch (error) {
    if (error instanceof RangeError) return ERRNO.FAULT;
    throw error;
  }
}

const isStdio = (fd) => fd === 0 || fd === 1 || fd === 2;

/** Each call takes the system and at most four of the program's arguments (what `imports` passes). */
export const CALLS = Object.freeze({
  args_sizes_get(sys, countPointer, sizePointer) {
    return guarded(() => {
      const view = sys.view();
      view.setUint32(countPointer, 1, true);
      view.setUint32(sizePointer, PROGRAM_NAME.length + 1, true);
      return ERRNO.SUCCESS;
    });
  },
  args_get(sys, argvPointer, bufferPointer) {
    return guarded(() => {
      sys.view().setUint32(argvPointer, bufferPointer, true);
      const name = new TextEncoder().encode(PROGRAM_NAME + "\0");
      sys.bytes(bufferPointer, name.length).set(name);
      return ERRNO.SUCCESS;
    });
  },
  environ_sizes_get(sys, countPointer, sizePointer) {
    return guarded(() => {
      const view = sys.view();
      view.setUint32(countPointer, 0, true);
      view.setUint32(sizePointer, 0, true);
      return ERRNO.SUCCESS;
    });
  },
  environ_get() {
    return ERRNO.SUCCESS;
  },
  clock_res_get(sys, id, resolutionPointer) {
    if (id < 0 || id > 3) return ERRNO.INVAL;
    return guarded(() => {
      sys.view().setBigUint64(resolutionPointer, CLOCK_RESOLUTION_NS, true);
      return ERRNO.SUCCESS;
    });
  },
  clock_time_get(sys, id, _precision, timePointer) {
    if (id < 0 || id > 3) return ERRNO.INVAL;
    // The same clock a JS job reads: workerd's, which advances only at I/O.
    return guarded(() => {
      sys.view().setBigUint64(timePointer, BigInt(Date.now()) * 1_000_000n, true);
      return ERRNO.SUCCESS;
    });
  },
  random_get(sys, pointer, length) {
    return guarded(() => {
      const target = sys.bytes(pointer, length);
      for (let offset = 0; offset < length; offset += RANDOM_CHUNK) {
        crypto.getRandomValues(target.subarray(offset, Math.min(length, offset + RANDOM_CHUNK)));
      }
      return ERRNO.SUCCESS;
    });
  },
  sched_yield() {
    return ERRNO.SUCCESS;
  },
  proc_exit(_sys, code) {
    throw new Exit(code);
  },
  fd_read(sys, fd, iovecPointer, iovecCount, readPointer) {
    if (!isStdio(fd)) return ERRNO.BADF;
    return guarded(() => {
      let read = 0;
      for (const [pointer, length] of sys.iovecs(iovecPointer, iovecCount)) {
        const available = fd === 0 ? sys.input.subarray(sys.inputOffset, sys.inputOffset + length) : [];
        sys.bytes(pointer, available.length).set(available);
        sys.inputOffset += available.length;
        read += available.length;
        if (available.length < length) break;
      }
      sys.view().setUint32(readPointer, read, true);
      return ERRNO.SUCCESS;
    });
  },
  fd_write(sys, fd, iovecPointer, iovecCount, writtenPointer) {
    if (!isStdio(fd)) return ERRNO.BADF;
    return guarded(() => {
      let written = 0;
      for (const [pointer, length] of sys.iovecs(iovecPointer, iovecCount)) {
        const chunk = sys.bytes(pointer, length);
        if (fd === 1) sys.write(chunk);
        // stderr (and writes to stdin) are discarded: counted as written, nothing kept.
        written += length;
      }
      sys.view().setUint32(writtenPointer, written, true);
      return ERRNO.SUCCESS;
    });
  },
  fd_close(_sys, fd) {
    return isStdio(fd) ? ERRNO.SUCCESS : ERRNO.BADF;
  },
  fd_fdstat_get(sys, fd, statPointer) {
    if (!isStdio(fd)) return ERRNO.BADF;
    return guarded(() => {
      const view = sys.view();
      sys.bytes(statPointer, 24).fill(0);
      view.setUint8(statPointer, FILETYPE_CHARACTER_DEVICE);
      view.setBigUint64(statPointer + 8, RIGHTS_ALL, true);
      view.setBigUint64(statPointer + 16, RIGHTS_ALL, true);
      return ERRNO.SUCCESS;
    });
  },
  fd_seek(_sys, fd) {
    return isStdio(fd) ? ERRNO.SPIPE : ERRNO.BADF;
  },
  fd_prestat_get() {
    // No preopened directories: the first descriptor libc asks about ends its search.
    return ERRNO.BADF;
  },
  fd_prestat_dir_name() {
    return ERRNO.BADF;
  },
});

/** The WASI functions the shim implements (the rest answer ENOSYS). */
export const IMPLEMENTED = Object.freeze(Object.keys(CALLS));
