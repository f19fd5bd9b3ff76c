// The loader's side of the node ↔ loader protocol, as pure functions (tested with `node --test`).
//
// Request from the node: POST, body = code bytes ++ input bytes,
//   x-serverless-executor-code-length  length of the code prefix (decimal),
//   x-serverless-executor-output-cap   largest output accepted (decimal),
//   x-serverless-executor-code-form    absent (a JavaScript module, as ever), `wasi` (the code is
//                                      a raw WebAssembly command) or `bundle` (the code is the
//                                      node's framing of a decoded bundle, see `bundleModules`).
// A request with `x-serverless-executor-ping` is a liveness check: answered at once.
// Answer to a job: 200 with `x-serverless-executor-end` set to one of END's values.

export const CODE_LENGTH = "x-serverless-executor-code-length";
export const OUTPUT_CAP = "x-serverless-executor-output-cap";
export const PING = "x-serverless-executor-ping";
export const END_HEADER = "x-serverless-executor-end";
export const CODE_FORM = "x-serverless-executor-code-form";

/** Module names in the job's isolate. The user's bundle lives under `job/`, apart from ours. */
export const ENTRY_MODULE = "main.js";
export const USER_MODULE = "user.js";
export const USER_WASM = "user.wasm";
export const WASI_MODULE = "wasi.js";
export const BUNDLE_DIR = "job/";
export const BUNDLE_ENTRY = "index.js";

/** Module kinds in the node's bundle framing (`src/code/bundle.rs` writes it). */
const KINDS = Object.freeze({ 1: "js", 2: "wasm", 3: "json", 4: "text", 5: "data" });

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

/**
 * The statuses our WASI entry (`entry-wasi.js`, which repeats them) answers a job with, in one
 * call: the command ran (the body is its stdout), it does not link as a WASI command, its stdout
 * passed the cap, or it trapped or exited non-zero.
 */
export const WASI_ANSWER = Object.freeze({ OK: 200, LINK_FAILED: 422, TOO_LARGE: 413, FAILED: 500 });

/** How a raw WebAssembly command ended, from its entry's status; any other status is a load failure. */
export function wasiEnd(status) {
  switch (status) {
    case WASI_ANSWER.OK:
      return END.OK;
    case WASI_ANSWER.TOO_LARGE:
      return END.TOO_LARGE;
    case WASI_ANSWER.FAILED:
      return END.EXCEPTION;
    default:
      return END.LOAD_FAILED;
  }
}

/** Splits a job request into code and input; a string saying what is wrong if it is malformed. */
export function parseJob(headers, body) {
  const codeLength = decimal(headers.get(CODE_LENGTH));
  const cap = decimal(headers.get(OUTPUT_CAP));
  if (codeLength === null || codeLength > body.length) return "bad code length";
  if (cap === null) return "bad output cap";
  const form = headers.get(CODE_FORM) ?? "js";
  if (form !== "js" && form !== "wasi" && form !== "bundle") return "bad code form";
  return {
    form,
    code: body.slice(0, codeLength),
    input: body.slice(codeLength),
    cap,
  };
}

/**
 * The modules of a job's isolate, by name, for workerd's worker loader. `sources` holds our
 * entry modules' text: `{ entry, wasiEntry, wasi }`. Throws on a framing the node never sends.
 * A JavaScript job's code is decoded as UTF-8 exactly as before code forms existed.
 */
export function jobModules(job, sources) {
  if (job.form === "js") {
    return { [ENTRY_MODULE]: sources.entry, [USER_MODULE]: new TextDecoder().decode(job.code) };
  }
  if (job.form === "wasi") {
    return {
      [ENTRY_MODULE]: { js: sources.wasiEntry },
      [WASI_MODULE]: { js: sources.wasi },
      [USER_WASM]: { wasm: job.code.buffer },
    };
  }
  const modules = {
    [ENTRY_MODULE]: { js: sources.entry },
    [USER_MODULE]: { js: `export { default } from "${BUNDLE_DIR}${BUNDLE_ENTRY}";` },
  };
  for (const [name, module] of bundleModules(job.code)) modules[BUNDLE_DIR + name] = module;
  return modules;
}

/**
 * Decodes the node's framing of a bundle: records of kind (1 byte), name length (2 bytes, big
 * endian), name (UTF-8), content length (4 bytes, big endian), content. The node has already
 * checked the bundle strictly; this only refuses what the node never writes.
 */
export function bundleModules(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const modules = [];
  let offset = 0;
  const take = (length) => {
    if (offset + length > bytes.length) throw new Error("truncated bundle framing");
    const part = bytes.subarray(offset, offset + length);
    offset += length;
    return part;
  };
  const strict = new TextDecoder("utf-8", { fatal: true });
  while (offset < bytes.length) {
    const kind = KINDS[take(1)[0]];
    if (kind === undefined) throw new Error("unknown module kind");
    const nameLength = view.getUint16(offset);
    offset += 2;
    const name = strict.decode(take(nameLength));
    const contentLength = view.getUint32(offset);
    offset += 4;
    const content = take(contentLength);
    modules.push([name, typed(kind, content, strict)]);
  }
  return modules;
}

function typed(kind, content, strict) {
  switch (kind) {
    case "wasm":
    case "data":
      return { [kind]: content.slice().buffer };
    case "json":
      return { json: JSON.parse(strict.decode(content)) };
    default:
      return { [kind]: strict.decode(content) };
  }
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
