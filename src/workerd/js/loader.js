// The loader worker of every workerd process the node starts, in every execution mode.
//
// It runs in its own isolate, which user code can never reach, so what it reports can be
// trusted: the user's module is loaded into a fresh isolate (a random id per job, never reused)
// next to our entry module, and the loader itself reads the user's response, caps it and tells
// the node how the user's code ended. Nothing produced in the user's isolate (status, headers)
// is taken at its word: only whether the calls resolved, rejected or never ended.

import ENTRY_SOURCE from "entry-source";
import { END, PING, ended, parseJob, readCapped } from "protocol.js";

const COMPATIBILITY_DATE = "2023-03-07";
const ENTRY_MODULE = "main.js";
const USER_MODULE = "user.js";
const PROBE = "x-serverless-executor-probe";

export default {
  async fetch(request, env) {
    if (request.headers.has(PING)) return new Response("pong");
    const job = parseJob(request.headers, new Uint8Array(await request.arrayBuffer()));
    if (typeof job === "string") return new Response(job, { status: 400 });
    const worker = env.LOADER.get(crypto.randomUUID(), () => ({
      compatibilityDate: COMPATIBILITY_DATE,
      mainModule: ENTRY_MODULE,
      modules: { [ENTRY_MODULE]: ENTRY_SOURCE, [USER_MODULE]: job.code },
      globalOutbound: null,
    }));
    const entry = worker.getEntrypoint();
    try {
      const probe = await entry.fetch("http://job/", { method: "POST", headers: { [PROBE]: "1" } });
      if (probe.status !== 204) return ended(END.LOAD_FAILED);
    } catch {
      return ended(END.LOAD_FAILED);
    }
    let output;
    try {
      // An ArrayBuffer body: a typed-array view is streamed between isolates, ~6 ms slower.
      const response = await entry.fetch("http://job/", { method: "POST", body: job.input.buffer });
      output = await readCapped(response.body, job.cap);
    } catch {
      return ended(END.EXCEPTION);
    }
    return output === null ? ended(END.TOO_LARGE) : ended(END.OK, output);
  },
};
