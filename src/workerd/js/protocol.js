// The loader's side of the node ↔ loader protocol, as pure functions (tested with `node --test`).
//
// Request from the node: POST, body = code bytes ++ input bytes,
//   x-serverless-executor-code-length  length of the code prefix (decimal),
//   x-serverless-executor-output-cap   largest output accepted (decimal).
// A request with `x-serverless-executor-ping` is a liveness check: answered at once.
// Answer to a job: 200 with `x-serverless-executor-end` set to one of END's values.

export const CODE_LENGTH = "x-serverless-executor-code-length";
export const OUTPUT_CAP = "x-serverless-executor-output-cap";
export const PING = "x-serverless-executor-ping";
export const END_HEADER = "x-serverless-executor-end";

/** How the user's code ended, as the loader observed it from its own isolate. */
export const END = Object.freeze({
  // The user's response, whole, is the body.
  OK: "ok",
  // The response body grew past the cap; reading stopped there.
  TOO_LARGE: "too-large",
  // The handler threw, rejected, never settled, or its body stream errored.
  EXCEPTION: "exception",
  // The module did not load or evaluate, or it has no fetch handler.
  LOAD_FAILED: "load-failed",
});

/** Splits a job request into code and input; a string saying what is wrong if it is malformed. */
export function parseJob(headers, body) {
  const codeLength = decimal(headers.get(CODE_LENGTH));
  const cap = decimal(headers.get(OUTPUT_CAP));
  if (codeLength === null || codeLength > body.length) return "bad code length";
  if (cap === null) return "bad output cap";
  return {
    code: new TextDecoder().decode(body.subarray(0, codeLength)),
    input: body.slice(codeLength),
    cap,
  };
}

/** A header's non-negative decimal integer, or `null` when it is absent or anything else. */
function decimal(text) {
  if (text === null || !/^[0-9]{1,15}$/.test(text)) return null;
  return Number(text);
}

/** Reads a body stream up to `cap` bytes; `null` when it is longer (the stream is cancelled). */
export async function readCapped(stream, cap) {
  if (stream === null) return new Uint8Array(0);
  const reader = stream.getReader();
  const chunks = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const chunk = value instanceof Uint8Array ? value : new Uint8Array(value);
    length += chunk.byteLength;
    if (length > cap) {
      reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(chunk);
  }
  const whole = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    whole.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return whole;
}

/** The loader's answer to the node for one job. */
export function ended(end, body) {
  return new Response(body ?? null, { status: 200, headers: { [END_HEADER]: end } });
}
