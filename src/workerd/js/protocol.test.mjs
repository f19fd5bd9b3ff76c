// Unit tests of the loader protocol helpers: `node --test src/workerd/js/`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { CODE_FORM, CODE_LENGTH, OUTPUT_CAP, END, END_HEADER, WASI_ANSWER, bundleModules, ended, jobModules, parseJob, readCapped, wasiEnd } from "./protocol.js";

const bytes = (text) => new TextEncoder().encode(text);

function streamOf(chunks, onCancel) {
  return new ReadableStream({
    pull(controller) {
      if (chunks.length === 0) controller.close();
      else controller.enqueue(chunks.shift());
    },
    cancel: onCancel,
  });
}

test("parseJob splits code from input by the length header", () => {
  const headers = new Headers({ [CODE_LENGTH]: "4", [OUTPUT_CAP]: "10" });
  const job = parseJob(headers, bytes("codeinput"));
  assert.equal(new TextDecoder().decode(job.code), "code");
  assert.equal(job.form, "js");
  assert.deepEqual([...job.input], [...bytes("input")]);
  assert.equal(job.cap, 10);
});

test("parseJob refuses missing, negative, fractional or too long lengths and caps", () => {
  const body = bytes("abc");
  for (const [length, cap] of [[null, "1"], ["-1", "1"], ["1.5", "1"], ["4", "1"], ["1", null], ["1", "-2"]]) {
    const headers = new Headers();
    if (length !== null) headers.set(CODE_LENGTH, length);
    if (cap !== null) headers.set(OUTPUT_CAP, cap);
    assert.equal(typeof parseJob(headers, body), "string", `${length} ${cap}`);
  }
});

test("readCapped keeps a body of exactly the cap and joins its chunks", async () => {
  const whole = await readCapped(streamOf([bytes("ab"), bytes("cd")]), 4);
  assert.deepEqual([...whole], [...bytes("abcd")]);
});

test("readCapped stops at one byte over the cap and cancels the stream", async () => {
  let cancelled = false;
  const result = await readCapped(streamOf([bytes("abc"), bytes("de")], () => { cancelled = true; }), 4);
  assert.equal(result, null);
  assert.equal(cancelled, true);
});

test("readCapped treats a missing body as empty and accepts ArrayBuffer chunks", async () => {
  assert.equal((await readCapped(null, 0)).byteLength, 0);
  const whole = await readCapped(streamOf([bytes("xy").buffer]), 2);
  assert.deepEqual([...whole], [...bytes("xy")]);
});

test("readCapped passes a stream error on to the caller", async () => {
  const failing = new ReadableStream({ start(controller) { controller.error(new Error("mid")); } });
  await assert.rejects(readCapped(failing, 10));
});

test("ended answers 200 with the end in its header", async () => {
  const response = ended(END.OK, bytes("out"));
  assert.equal(response.status, 200);
  assert.equal(response.headers.get(END_HEADER), "ok");
  assert.equal(await response.text(), "out");
  assert.equal(ended(END.EXCEPTION).headers.get(END_HEADER), "exception");
});

test("a JavaScript job's modules are our entry and its code, decoded as before", () => {
  const headers = new Headers({ [CODE_LENGTH]: "2", [OUTPUT_CAP]: "1" });
  const job = parseJob(headers, new Uint8Array([0x61, 0xff]));
  const modules = jobModules(job, { entry: "E" });
  assert.deepEqual(modules, { "main.js": "E", "user.js": "a\ufffd" });
});

test("a raw module is typed wasm next to our WASI entry and shim", () => {
  const headers = new Headers({ [CODE_LENGTH]: "4", [OUTPUT_CAP]: "1", [CODE_FORM]: "wasi" });
  const job = parseJob(headers, new Uint8Array([0, 0x61, 0x73, 0x6d, 9]));
  const modules = jobModules(job, { entry: "E", wasiEntry: "W", wasi: "S" });
  assert.deepEqual(modules["main.js"], { js: "W" });
  assert.deepEqual(modules["wasi.js"], { js: "S" });
  assert.deepEqual([...new Uint8Array(modules["user.wasm"].wasm)], [0, 0x61, 0x73, 0x6d]);
  assert.deepEqual([...job.input], [9]);
});

test("an unknown code form is refused", () => {
  const headers = new Headers({ [CODE_LENGTH]: "0", [OUTPUT_CAP]: "1", [CODE_FORM]: "python" });
  assert.equal(parseJob(headers, new Uint8Array(0)), "bad code form");
});

function record(kind, name, content) {
  const n = bytes(name);
  const out = new Uint8Array(1 + 2 + n.length + 4 + content.length);
  const view = new DataView(out.buffer);
  out[0] = kind;
  view.setUint16(1, n.length);
  out.set(n, 3);
  view.setUint32(3 + n.length, content.length);
  out.set(content, 7 + n.length);
  return [...out];
}

test("a bundle's framing becomes typed modules under job/, behind our entry", () => {
  const framing = new Uint8Array([
    ...record(1, "index.js", bytes("export default {}")),
    ...record(2, "a/add.wasm", new Uint8Array([0, 0x61, 0x73, 0x6d])),
    ...record(3, "d.json", bytes('{"a":[1]}')),
    ...record(4, "t.txt", bytes("hi")),
    ...record(5, "b.bin", new Uint8Array([7])),
  ]);
  const modules = jobModules({ form: "bundle", code: framing }, { entry: "E" });
  assert.deepEqual(modules["main.js"], { js: "E" });
  assert.deepEqual(modules["user.js"], { js: 'export { default } from "job/index.js";' });
  assert.deepEqual(modules["job/index.js"], { js: "export default {}" });
  assert.equal(modules["job/a/add.wasm"].wasm.byteLength, 4);
  assert.deepEqual(modules["job/d.json"], { json: { a: [1] } });
  assert.deepEqual(modules["job/t.txt"], { text: "hi" });
  assert.deepEqual([...new Uint8Array(modules["job/b.bin"].data)], [7]);
});

test("a framing the node never writes throws", () => {
  const good = record(1, "index.js", bytes("x"));
  for (const bad of [good.slice(0, -1), [9, ...good.slice(1)], good.slice(0, 2), record(4, "t.txt", new Uint8Array([0xff]))]) {
    assert.throws(() => bundleModules(new Uint8Array(bad)));
  }
});

test("wasiEnd maps each answer of the WASI entry to its end, and anything else to a load failure", () => {
  assert.equal(wasiEnd(WASI_ANSWER.OK), END.OK);
  assert.equal(wasiEnd(WASI_ANSWER.TOO_LARGE), END.TOO_LARGE);
  assert.equal(wasiEnd(WASI_ANSWER.FAILED), END.EXCEPTION);
  assert.equal(wasiEnd(WASI_ANSWER.LINK_FAILED), END.LOAD_FAILED);
  for (const status of [204, 400, 404, 503]) assert.equal(wasiEnd(status), END.LOAD_FAILED);
});

test("the WASI entry answers with exactly protocol.js's statuses", () => {
  const source = readFileSync(new URL("./entry-wasi.js", import.meta.url), "utf8");
  const literal = source.match(/const ANSWER = Object\.freeze\((\{[^}]*\})\);/);
  assert.ok(literal, "entry-wasi.js declares its ANSWER statuses");
  const answer = Function(`return (${literal[1]});`)();
  assert.deepEqual(answer, { ...WASI_ANSWER });
});
