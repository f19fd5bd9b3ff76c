// Unit tests of our WASI shim: `node --test src/workerd/js/`. Real programs (C, via clang) run
// through the whole node in tests/wasm.rs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CALLS, Exit, IMPLEMENTED, OutputTooLarge, PROGRAM_NAME, System, WASI_MODULE, linkProblem } from "./wasi.js";

// A module importing `wasi_snapshot_preview1.<names>` (all `() -> i32`... the types do not
// matter to the shim) and exporting what `exports` says, hand-assembled.
function moduleOf({ imports = [], from = WASI_MODULE, start = true, memory = true }) {
  const text = (s) => [s.length, ...new TextEncoder().encode(s)];
  const leb = (n) => (n < 0x80 ? [n] : [(n & 0x7f) | 0x80, ...leb(n >> 7)]);
  const section = (id, body) => [id, ...leb(body.length), ...body];
  const type = section(1, [1, 0x60, 0, 1, 0x7f]);
  const importEntries = imports.flatMap((name) => [...text(from), ...text(name), 0, 0]);
  const importSection = imports.length ? section(2, [...leb(imports.length), ...importEntries]) : [];
  const functions = section(3, [1, 0]);
  const memories = section(5, [1, 0, 1]);
  const exportEntries = [];
  if (start) exportEntries.push([...text("_start"), 0, ...leb(imports.length)]);
  if (memory) exportEntries.push([...text("memory"), 2, 0]);
  const exportSection = section(7, [exportEntries.length, ...exportEntries.flat()]);
  const code = section(10, [1, 4, 0, 0x41, 0, 0x0b]);
  const bytes = [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...type, ...importSection, ...functions, ...memories, ...exportSection, ...code];
  return new WebAssembly.Module(new Uint8Array(bytes));
}

function systemWith(input, cap = 100) {
  const module = moduleOf({ imports: [...IMPLEMENTED, "path_open", "sock_accept"] });
  const sys = new System(input, cap);
  sys.memory = new WebAssembly.Memory({ initial: 2 });
  return { sys, calls: sys.imports(module) };
}

test("linkProblem accepts a command and names what a module lacks", () => {
  assert.equal(linkProblem(moduleOf({ imports: ["fd_write", "path_open"] })), null);
  assert.equal(linkProblem(moduleOf({ imports: ["f"], from: "env" })), "unknown import env.f");
  assert.equal(linkProblem(moduleOf({ start: false })), "no _start function");
  assert.equal(linkProblem(moduleOf({ memory: false })), "no exported memory");
});

test("every call fits the four arguments an import passes on", () => {
  for (const [name, call] of Object.entries(CALLS)) assert.ok(call.length <= 5, `${name} takes ${call.length - 1}`);
  const { calls } = systemWith(new Uint8Array(0));
  assert.equal(calls.fd_seek(1, 0n, 0, 50), 70, "ESPIPE through the closure");
  assert.equal(calls.path_open(3, 0, 0, 0, 0, 0n, 0n, 0, 50), 52, "ENOSYS whatever the arity");
});

test("stdin is the input, read across iovecs and to its end", () => {
  const { sys, calls } = systemWith(new TextEncoder().encode("hello"));
  const view = sys.view();
  // two iovecs of 3 bytes at 100 and 200
  view.setUint32(0, 100, true); view.setUint32(4, 3, true);
  view.setUint32(8, 200, true); view.setUint32(12, 3, true);
  assert.equal(calls.fd_read(0, 0, 2, 50), 0);
  assert.equal(view.getUint32(50, true), 5);
  assert.equal(new TextDecoder().decode(sys.bytes(100, 3)) + new TextDecoder().decode(sys.bytes(200, 2)), "hello");
  assert.equal(calls.fd_read(0, 0, 2, 50), 0);
  assert.equal(view.getUint32(50, true), 0, "end of input");
  assert.equal(calls.fd_read(5, 0, 2, 50), 8, "EBADF");
});

test("stdout is kept, stderr discarded, past the cap the program is stopped", () => {
  const { sys, calls } = systemWith(new Uint8Array(0), 6);
  const view = sys.view();
  sys.bytes(100, 4).set(new TextEncoder().encode("abcd"));
  view.setUint32(0, 100, true); view.setUint32(4, 4, true);
  assert.equal(calls.fd_write(1, 0, 1, 50), 0);
  assert.equal(view.getUint32(50, true), 4);
  assert.equal(calls.fd_write(2, 0, 1, 50), 0);
  assert.equal(view.getUint32(50, true), 4);
  assert.equal(new TextDecoder().decode(sys.stdout()), "abcd");
  assert.throws(() => calls.fd_write(1, 0, 1, 50), OutputTooLarge);
  assert.equal(calls.fd_write(3, 0, 1, 50), 8);
});

test("args are the program name only, the environment is empty", () => {
  const { sys, calls } = systemWith(new Uint8Array(0));
  const view = sys.view();
  assert.equal(calls.args_sizes_get(0, 4), 0);
  assert.deepEqual([view.getUint32(0, true), view.getUint32(4, true)], [1, PROGRAM_NAME.length + 1]);
  assert.equal(calls.args_get(8, 100), 0);
  assert.equal(view.getUint32(8, true), 100);
  assert.equal(new TextDecoder().decode(sys.bytes(100, PROGRAM_NAME.length + 1)), PROGRAM_NAME + "\0");
  assert.equal(calls.environ_sizes_get(0, 4), 0);
  assert.deepEqual([view.getUint32(0, true), view.getUint32(4, true)], [0, 0]);
});

test("clocks, random, fdstat, seek, prestat, exit and everything else", () => {
  const { sys, calls } = systemWith(new Uint8Array(0));
  const view = sys.view();
  assert.equal(calls.clock_time_get(0, 0n, 0), 0);
  const now = view.getBigUint64(0, true) / 1_000_000n;
  assert.ok(now <= BigInt(Date.now()) && now > BigInt(Date.now() - 10_000));
  assert.equal(calls.clock_time_get(9, 0n, 0), 28, "EINVAL");
  assert.equal(calls.clock_res_get(1, 0), 0);
  assert.equal(view.getBigUint64(0, true), 1_000_000n);
  assert.equal(calls.random_get(0, 70000), 0);
  assert.ok(sys.bytes(0, 70000).some((b) => b !== 0));
  assert.equal(calls.random_get(131030, 100), 21, "EFAULT past the memory");
  assert.equal(calls.fd_fdstat_get(1, 0), 0);
  assert.equal(view.getUint8(0), 2, "a character device");
  assert.equal(calls.fd_fdstat_get(3, 0), 8);
  assert.equal(calls.fd_seek(1, 0n, 0, 0), 70, "ESPIPE");
  assert.equal(calls.fd_prestat_get(3, 0), 8, "no preopens");
  assert.equal(calls.fd_close(1), 0);
  assert.equal(calls.sched_yield(), 0);
  assert.equal(calls.path_open(), 52, "ENOSYS");
  assert.equal(calls.sock_accept(), 52);
  assert.throws(() => calls.proc_exit(3), (e) => e instanceof Exit && e.code === 3);
});
