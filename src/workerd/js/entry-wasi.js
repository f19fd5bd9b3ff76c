// Our entry module for a raw WebAssembly command, loaded in the job's own isolate next to the
// user's module (`user.wasm`, compiled by workerd itself) and our WASI shim (`wasi.js`).
//
// It answers the loader's load probe (the module compiled and links as a WASI command) and
// otherwise runs the command with the request body as stdin: its stdout is the response. A
// non-zero exit or a trap throws (outcome 7); stdout past the cap (which the loader sends in
// a header) answers one byte more than the cap, so the loader sees it as too large.

import program from "user.wasm";
import { OutputTooLarge, linkProblem, runCommand } from "wasi.js";

const PROBE = "x-serverless-executor-probe";
const OUTPUT_CAP = "x-serverless-executor-output-cap";

export default {
  async fetch(request) {
    if (request.headers.has(PROBE)) {
      return new Response(null, { status: linkProblem(program) === null ? 204 : 500 });
    }
    const cap = Number(request.headers.get(OUTPUT_CAP));
    const input = new Uint8Array(await request.arrayBuffer());
    try {
      return new Response(runCommand(program, input, cap).buffer);
    } catch (error) {
      if (error instanceof OutputTooLarge) return new Response(new ArrayBuffer(cap + 1));
      throw error;
    }
  },
};
