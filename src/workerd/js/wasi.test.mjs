// Unit tests of our WASI shim: `node --test src/workerd/js/`. Real programs (C, via clang) run
// through the whole node in tests/wasm.rs.
import { test } from "node:test";
import assert from "node:assert/strict";

// The shim under test: this source, or, run from wasi.min.test.mjs, the minified form the node
// actually embeds (min/wasi.js), so esbuild's rewrite is held to the same tests.
const shim = await import(globalThis.wasiShimUnderTest ?? "./wasi.js");
const { Exit, LinkFailed, OutputTooLarge, PROGRAM_NAME, WASI_MODULE, commandState, runCommand, wasiCall } = shim;

/** The WASI functions the shim implements; every other name answers ENOSYS. */
const IMPLEMENTED = [
  "args_sizes_get", "args_get", "environ_sizes_get", "environ_get", "sched_yield", "clock_res_get",
  "clock_time_get", "random_get", "proc_exit", "fd_read", "fd_write", "fd_close", "fd_fdstat_get", "fd_seek",
  "fd_prestat_get", "fd_prestat_dir_name",
];

// A module importing `<from>.<names>` (all `() -> i32`: the types do not matter to the shim)
// and exporting what it is told, hand-assembled. With `startCalls`, a wasm `start` function
// calls the first import before `_start` exists for us.
function moduleOf({ imports = [], from = WASI_MODULE, start = true, memory = true, startCalls = false }) {
  const text = (s) => [s.length, ...new TextEncoder().encode(s)];
  const leb = (n) => (n < 0x80 ? [n] : [(n & 0x7f) | 0x80, ...leb(n >> 7)]);
  const section = (id, body) => [id, ...leb(body.length), ...body];
  const type = section(1, [2, 0x60, 0, 1, 0x7f, 0x60, 0, 0]);
  const importEntries = imports.flatMap((name) => [...text(from), ...text(name), 0, 0]);
  const importSection = imports.length ? section(2, [...leb(imports.length), ...importEntries]) : [];
  const functions = section(3, startCalls ? [2, 0, 1] : [1, 0]);
  const memories = section(5, [1, 0, 1]);
  const exportEntries = [];
  if (start) exportEntries.push([...text("_start"), 0, ...leb(imports.length)]);
  if (memory) exportEntries.push([...text("memory"), 2, 0]);
  const exportSection = section(7, [exportEntries.length, ...exportEntries.flat()]);
  const startSection = startCalls ? section(8, leb(imports.length + 1)) : [];
  const bodies = [4, 0, 0x41, 0, 0x0b, ...(startCalls ? [5, 0, 0x10, 0, 0x1a, 0x0b] : [])];
  const code = section(10, [startCalls ? 2 : 1, ...bodies]);
  const bytes = [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...type, ...importSection, ...functions, ...memories, ...exportSection, ...startSection, ...code];
  return new WebAssembly.Module(new Uint8Array(bytes));
}

/** A run's state with a memory of two pages, and a way to call a WASI function on it. */
function systemWith(input, cap = 100) {
  const state = commandState(input, cap);
  state.memory = new WebAssembly.Memory({ initial: 2 });
  const call = (name, ...args) => wasiCall(name)(state, ...args);
  const view = () => new DataView(state.memory.buffer);
  const bytes = (pointer, length) => new Uint8Array(state.memory.buffer, pointer, length);
  return { state, call, view, bytes };
}

test("a command links and runs; what does not link is a LinkFailed, named", () => {
  assert.deepEqual(runCommand(moduleOf({ imports: ["fd_write", "path_open", "no_such_call"] }), new Uint8Array(0), 10), new Uint8Array(0));
  const refused = (module) => assert.throws(() => runCommand(module, new Uint8Array(0), 10), (e) => e instanceof LinkFailed);
  refused(moduleOf({ imports: ["f"], from: "env" }));
  refused(moduleOf({ start: false }));
  refused(moduleOf({ memory: false }));
  assert.throws(() => runCommand(moduleOf({ start: false }), new Uint8Array(0), 10), (e) => e.reason === "no _start function");
  assert.throws(() => runCommand(moduleOf({ memory: false }), new Uint8Array(0), 10), (e) => e.reason === "no exported memory");
});

test("a wasm start function that touches memory fails as the program's own failure, not a link failure", () => {
  assert.throws(
    () => runCommand(moduleOf({ imports: ["args_sizes_get"], startCalls: true }), new Uint8Array(0), 10),
    (e) => e instanceof TypeError,
  );
});

test("every call fits the four arguments an import passes on", () => {
  for (const name of IMPLEMENTED) assert.ok(wasiCall(name).length <= 5, `${name} takes ${wasiCall(name).length - 1}`);
  const { call } = systemWith(new Uint8Array(0));
  assert.equal(call("fd_seek", 1, 0n, 0, 50), 70, "ESPIPE");
  assert.equal(call("path_open", 3, 0, 0, 0, 0, 0n, 0n, 0, 50), 52, "ENOSYS whatever the arity");
});

test("stdin is the input, read across iovecs and to its end", () => {
  const { call, view, bytes } = systemWith(new TextEncoder().encode("hello"));
  // two iovecs of 3 bytes at 100 and 200
  view().setUint32(0, 100, true); view().setUint32(4, 3, true);
  view().setUint32(8, 200, true); view().setUint32(12, 3, true);
  assert.equal(call("fd_read", 0, 0, 2, 50), 0);
  assert.equal(view().getUint32(50, true), 5);
  assert.equal(new TextDecoder().decode(bytes(100, 3)) + new TextDecoder().decode(bytes(200, 2)), "hello");
  assert.equal(call("fd_read", 0, 0, 2, 50), 0);
  assert.equal(view().getUint32(50, true), 0, "end of input");
  assert.equal(call("fd_read", 1, 0, 2, 50), 0, "stdout reads as empty");
  assert.equal(view().getUint32(50, true), 0);
  assert.equal(call("fd_read", 5, 0, 2, 50), 8, "EBADF");
  assert.equal(call("fd_read", 0, 131070, 1, 50), 21, "EFAULT for an iovec past the memory");
});

test("stdout is kept, stderr discarded, past the cap the program is stopped", () => {
  const { state, call, view, bytes } = systemWith(new Uint8Array(0), 6);
  bytes(100, 4).set(new TextEncoder().encode("abcd"));
  view().setUint32(0, 100, true); view().setUint32(4, 4, true);
  assert.equal(call("fd_write", 1, 0, 1, 50), 0);
  assert.equal(view().getUint32(50, true), 4);
  assert.equal(call("fd_write", 2, 0, 1, 50), 0);
  assert.equal(view().getUint32(50, true), 4);
  assert.equal(state.written, 4);
  assert.equal(new TextDecoder().decode(state.chunks[0]), "abcd");
  bytes(100, 4).fill(0);
  assert.equal(new TextDecoder().decode(state.chunks[0]), "abcd", "a copy, not a view of the memory");
  assert.throws(() => call("fd_write", 1, 0, 1, 50), OutputTooLarge);
  assert.equal(call("fd_write", 3, 0, 1, 50), 8);
});

test("args are the program name only, the environment is empty", () => {
  const { call, view, bytes } = systemWith(new Uint8Array(0));
  assert.equal(call("args_sizes_get", 0, 4), 0);
  assert.deepEqual([view().getUint32(0, true), view().getUint32(4, true)], [1, PROGRAM_NAME.length + 1]);
  assert.equal(call("args_get", 8, 100), 0);
  assert.equal(view().getUint32(8, true), 100);
  assert.equal(new TextDecoder().decode(bytes(100, PROGRAM_NAME.length + 1)), PROGRAM_NAME + "\0");
  assert.equal(call("environ_sizes_get", 0, 4), 0);
  assert.deepEqual([view().getUint32(0, true), view().getUint32(4, true)], [0, 0]);
});

test("clocks, random, fdstat, seek, prestat, exit and everything else", () => {
  const { call, view, bytes } = systemWith(new Uint8Array(0));
  assert.equal(call("clock_time_get", 0, 0n, 0), 0);
  const now = view().getBigUint64(0, true) / 1_000_000n;
  assert.ok(now <= BigInt(Date.now()) && now > BigInt(Date.now() - 10_000));
  assert.equal(call("clock_time_get", 9, 0n, 0), 28, "EINVAL");
  assert.equal(call("clock_res_get", 1, 0), 0);
  assert.equal(view().getBigUint64(0, true), 1_000_000n);
  assert.equal(call("random_get", 0, 70000), 0);
  assert.ok(bytes(0, 70000).some((b) => b !== 0));
  assert.ok(bytes(65536, 4464).some((b) => b !== 0), "the second chunk is filled too");
  assert.equal(call("random_get", 131030, 100), 21, "EFAULT past the memory");
  assert.equal(call("fd_fdstat_get", 1, 0), 0);
  assert.equal(view().getUint8(0), 2, "a character device");
  assert.equal(view().getBigUint64(8, true), 0xffffffffffffffffn);
  assert.equal(call("fd_fdstat_get", 3, 0), 8);
  assert.equal(call("fd_seek", 1, 0n, 0, 0), 70, "ESPIPE");
  assert.equal(call("fd_prestat_get", 3, 0), 8, "no preopens");
  assert.equal(call("fd_close", 1), 0);
  assert.equal(call("fd_close", 7), 8);
  assert.equal(call("sched_yield"), 0);
  assert.equal(call("path_open"), 52, "ENOSYS");
  assert.equal(call("sock_accept"), 52);
  assert.throws(() => call("proc_exit", 3), (e) => e instanceof Exit && e.code === 3);
});
