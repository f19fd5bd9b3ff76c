// Our entry module for a raw WebAssembly command, loaded in the job's own isolate next to the
// user's module (`user.wasm`, compiled by workerd itself) and our WASI shim (`wasi.js`).
//
// One call per job: it checks that the module links as a WASI command, runs it with the request
// body as stdin and answers with a status the loader maps to an end (`wasiEnd` in protocol.js).
// A probe first, as for JavaScript, cost a second round trip between isolates (0.3 ms a job).
// Only our JavaScript runs in this isolate (the user's module reaches nothing but the shim's
// imports), so the status is ours and the loader may trust it.
//
// The statuses repeat protocol.js's `WASI_ANSWER`, which this isolate does not load; a test
// checks that the two agree.

import program from "user.wasm";
import { LinkFailed, OutputTooLarge, runCommand } from "wasi.js";

const OUTPUT_CAP = "x-serverless-executor-output-cap";
const ANSWER = Object.freeze({ OK: 200, LINK_FAILED: 422, TOO_LARGE: 413, FAILED: 500 });

export default {
  async fetch(request) {
    try {
      const cap = Number(request.headers.get(OUTPUT_CAP));
      const input = new Uint8Array(await request.arrayBuffer());
      return new Response(runCommand(program, input, cap).buffer, { status: ANSWER.OK });
    } catch (error) {
      return new Response(null, { status: failureStatus(error) });
    }
  },
};

function failureStatus(error) {
  if (error instanceof OutputTooLarge) return ANSWER.TOO_LARGE;
  if (error instanceof LinkFailed) return ANSWER.LINK_FAILED;
  return ANSWER.FAILED;
}
