// Unit tests of the loader protocol helpers: `node --test src/workerd/js/`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CODE_LENGTH, OUTPUT_CAP, END, END_HEADER, ended, parseJob, readCapped } from "./protocol.js";

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
  assert.equal(job.code, "code");
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
