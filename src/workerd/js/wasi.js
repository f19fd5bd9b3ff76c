// Our WASI preview 1 shim, loaded next to a raw WebAssembly command in the job's isolate
// (and unit-tested with `node --test src/workerd/js/`).
//
// A job's program sees: stdin = the job's input, stdout = its output (bounded: past the cap
// the program is stopped, the output is too large anyway), stderr discarded (nothing is
// kept), `args` = the program name only, an empty environment, the clocks and `random_get` of
// a JS job. There is no file system and no socket: every other WASI function answers ENOSYS,
// and an import from any other module fails to link. Nothing here is trusted by the loader: it
// only observes whether the job's call resolved or threw.
//
// Written for a fresh isolate per job, where V8 parses this module and compiles each function
// on the path of a run anew for every job. So the run uses no `WebAssembly.Module.imports` or
// `exports` (instantiation itself refuses what we do not give), each call is a function of its
// own looked up by name only when the engine asks for it, and memory is reached directly. The
// earlier form (a state class, a frozen table of calls taking it, descriptor checks before
// instantiation, `for...of`, `Math.min`) cost a trivial command ~0.45 ms more CPU a job than
// this one, a third of what a raw Wasm job cost over the same job in JavaScript (measured
// against a bare workerd, paired, 2026-12-03).

export const WASI_MODULE = "wasi_snapshot_preview1";
export const PROGRAM_NAME = "job";

// errno values (preview 1's `errno` enum).
const SUCCESS = 0;
const BADF = 8;
const FAULT = 21;
const INVAL = 28;
const NOSYS = 52;
const SPIPE = 70;

const FILETYPE_CHARACTER_DEVICE = 2;
const RANDOM_CHUNK = 65536;

/** Thrown by `proc_exit`: unwinds the program's stack to `runCommand`. */
export class Exit {
  constructor(code) {
    this.code = code;
  }
}

/** Thrown when stdout grows past the cap: nothing the program does after can be output. */
export class OutputTooLarge {}

/** Thrown when the module does not link as a WASI command; `reason` says why. */
export class LinkFailed {
  constructor(reason) {
    this.reason = reason;
  }
}

/**
 * Runs a WASI command to its end. Returns its stdout when it returns from `_start` or exits
 * with status 0; throws on a trap, a non-zero exit, stdout past `cap` bytes
 * ([`OutputTooLarge`]), and [`LinkFailed`] when it imports from another module or a WASI name
 * of the wrong kind, or exports no `_start` function or no memory. Those exports are checked
 * once instantiated, so a module's wasm `start` function, if it has one, has already run (under
 * the job's limits, as ever); the memory is not known to our calls before `_start`.
 */
export function runCommand(module, input, cap) {
  const state = commandState(input, cap);
  let exports;
  try {
    exports = new WebAssembly.Instance(module, importObject(state)).exports;
  } catch (error) {
    // An import module we give nothing for is the engine's TypeError, thrown before any call.
    const unlinked = error instanceof WebAssembly.LinkError || (error instanceof TypeError && !state.entered);
    if (unlinked) throw new LinkFailed(error.message);
    throw error;
  }
  if (typeof exports._start !== "function") throw new LinkFailed("no _start function");
  if (!(exports.memory instanceof WebAssembly.Memory)) throw new LinkFailed("no exported memory");
  state.memory = exports.memory;
  try {
    exports._start();
  } catch (error) {
    if (!(error instanceof Exit) || error.code !== 0) throw error;
  }
  const whole = new Uint8Array(state.written);
  let offset = 0;
  for (let i = 0; i < state.chunks.length; i++) {
    whole.set(state.chunks[i], offset);
    offset += state.chunks[i].byteLength;
  }
  return whole;
}

/** What one run of a command sees: its stdin, its stdout so far, its memory once known. */
export function commandState(input, cap) {
  return { input, inputOffset: 0, cap, chunks: [], written: 0, memory: null, entered: false };
}

/**
 * The import object of one run, over `state`: the WASI module's functions are made when the
 * engine asks for them by name, so only the calls a program imports are ever compiled (an
 * object of all of them, made by one function, cost ~0.4 ms a job, measured as above).
 */
function importObject(state) {
  const wasi = new Proxy({}, {
    get: (_target, name) => {
      const call = wasiCall(name);
      return (a, b, c, d) => {
        state.entered = true;
        return call(state, a, b, c, d);
      };
    },
  });
  return { [WASI_MODULE]: wasi };
}

/**
 * Our function behind the WASI function `name`, taking the run's state and the program's first
 * four arguments (no call we implement takes more); ENOSYS for any other name.
 */
export function wasiCall(name) {
  switch (name) {
    case "args_sizes_get":
      return argsSizesGet;
    case "args_get":
      return argsGet;
    case "environ_sizes_get":
      return environSizesGet;
    case "environ_get":
    case "sched_yield":
      return succeed;
    case "clock_res_get":
      return clockResGet;
    case "clock_time_get":
      return clockTimeGet;
    case "random_get":
      return randomGet;
    case "proc_exit":
      return procExit;
    case "fd_read":
      return fdRead;
    case "fd_write":
      return fdWrite;
    case "fd_close":
      return fdClose;
    case "fd_fdstat_get":
      return fdFdstatGet;
    case "fd_seek":
      return fdSeek;
    case "fd_prestat_get":
    case "fd_prestat_dir_name":
      // No preopened directories: the first descriptor libc asks about ends its search.
      return badDescriptor;
    default:
      return notImplemented;
  }
}

const succeed = () => SUCCESS;
const badDescriptor = () => BADF;
const notImplemented = () => NOSYS;
const isStdio = (fd) => fd === 0 || fd === 1 || fd === 2;

function argsSizesGet(state, countPointer, sizePointer) {
  return guarded(() => {
    const memory = view(state);
    memory.setUint32(countPointer, 1, true);
    memory.setUint32(sizePointer, PROGRAM_NAME.length + 1, true);
    return SUCCESS;
  });
}

function argsGet(state, argvPointer, bufferPointer) {
  return guarded(() => {
    view(state).setUint32(argvPointer, bufferPointer, true);
    const name = new TextEncoder().encode(PROGRAM_NAME + "\0");
    bytes(state, bufferPointer, name.length).set(name);
    return SUCCESS;
  });
}

function environSizesGet(state, countPointer, sizePointer) {
  return guarded(() => {
    const memory = view(state);
    memory.setUint32(countPointer, 0, true);
    memory.setUint32(sizePointer, 0, true);
    return SUCCESS;
  });
}

function clockResGet(state, id, resolutionPointer) {
  if (id < 0 || id > 3) return INVAL;
  return guarded(() => {
    view(state).setBigUint64(resolutionPointer, 1_000_000n, true);
    return SUCCESS;
  });
}

function clockTimeGet(state, id, _precision, timePointer) {
  if (id < 0 || id > 3) return INVAL;
  // The same clock a JS job reads: workerd's, which advances only at I/O.
  return guarded(() => {
    view(state).setBigUint64(timePointer, BigInt(Date.now()) * 1_000_000n, true);
    return SUCCESS;
  });
}

function randomGet(state, pointer, length) {
  return guarded(() => {
    const target = bytes(state, pointer, length);
    for (let offset = 0; offset < length; offset += RANDOM_CHUNK) {
      const end = offset + RANDOM_CHUNK < length ? offset + RANDOM_CHUNK : length;
      crypto.getRandomValues(target.subarray(offset, end));
    }
    return SUCCESS;
  });
}

function procExit(_state, code) {
  throw new Exit(code);
}

function fdRead(state, fd, iovecPointer, iovecCount, readPointer) {
  if (!isStdio(fd)) return BADF;
  return guarded(() => {
    const memory = view(state);
    let read = 0;
    for (let i = 0; i < iovecCount; i++) {
      const pointer = memory.getUint32(iovecPointer + 8 * i, true);
      const length = memory.getUint32(iovecPointer + 8 * i + 4, true);
      // stdout and stderr read as empty.
      const left = fd === 0 ? state.input.length - state.inputOffset : 0;
      const available = left < length ? left : length;
      bytes(state, pointer, available).set(state.input.subarray(state.inputOffset, state.inputOffset + available));
      state.inputOffset += available;
      read += available;
      if (available < length) break;
    }
    memory.setUint32(readPointer, read, true);
    return SUCCESS;
  });
}

function fdWrite(state, fd, iovecPointer, iovecCount, writtenPointer) {
  if (!isStdio(fd)) return BADF;
  return guarded(() => {
    const memory = view(state);
    let written = 0;
    for (let i = 0; i < iovecCount; i++) {
      const pointer = memory.getUint32(iovecPointer + 8 * i, true);
      const length = memory.getUint32(iovecPointer + 8 * i + 4, true);
      const chunk = bytes(state, pointer, length);
      // stderr (and writes to stdin) are discarded: counted as written, nothing kept.
      if (fd === 1) keep(state, chunk);
      written += length;
    }
    memory.setUint32(writtenPointer, written, true);
    return SUCCESS;
  });
}

function fdClose(_state, fd) {
  return isStdio(fd) ? SUCCESS : BADF;
}

function fdFdstatGet(state, fd, statPointer) {
  if (!isStdio(fd)) return BADF;
  return guarded(() => {
    const memory = view(state);
    bytes(state, statPointer, 24).fill(0);
    memory.setUint8(statPointer, FILETYPE_CHARACTER_DEVICE);
    // Every right, in both the base and the inheriting set.
    memory.setBigUint64(statPointer + 8, 0xffffffffffffffffn, true);
    memory.setBigUint64(statPointer + 16, 0xffffffffffffffffn, true);
    return SUCCESS;
  });
}

function fdSeek(_state, fd) {
  return isStdio(fd) ? SPIPE : BADF;
}

// The memory, reached directly on every call: the program may grow it, which replaces its
// buffer. A call before `_start` (from a wasm `start` function) finds none: a TypeError.
const view = (state) => new DataView(state.memory.buffer);
const bytes = (state, pointer, length) => new Uint8Array(state.memory.buffer, pointer, length);

/** Keeps a chunk of stdout; past the cap the program is stopped. */
function keep(state, chunk) {
  state.written += chunk.byteLength;
  if (state.written > state.cap) throw new OutputTooLarge();
  state.chunks[state.chunks.length] = chunk.slice();
}

/** Runs `body`; a pointer outside the memory (a RangeError) is EFAULT, as in a real kernel. */
function guarded(body) {
  try {
    return body();
  } catch (error) {
    if (error instanceof RangeError) return FAULT;
    throw error;
  }
}
