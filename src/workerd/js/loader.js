// The loader worker of every workerd process the node starts, in every execution mode.
//
// It runs in its own isolate, which user code can never reach, so what it reports can be
// trusted: the user's module is loaded into a fresh isolate (`LOADER.load`, which caches nothing)
// next to our entry module, and the loader itself reads the user's response, caps it and tells
// the node how the user's code ended. Nothing produced in the user's isolate (status, headers)
// is taken at its word: only whether the calls resolved, rejected or never ended. The one
// exception is a raw WebAssembly command's isolate, where only our JavaScript runs (the user's
// module reaches nothing but our shim): its entry's status says how the command ended.
// Every code form (a JavaScript module, a raw WebAssembly command, a bundle) is handed to
// workerd as typed modules, so workerd compiles Wasm itself and code generation stays off.

import ENTRY_SOURCE from "entry-source";
import WASI_ENTRY_SOURCE from "wasi-entry-source";
import WASI_SOURCE from "wasi-source";
import { END, ENTRY_MODULE, OUTPUT_CAP, PING, ended, jobModules, parseJob, readCapped, wasiEnd } from "protocol.js";

const COMPATIBILITY_DATE = "2023-03-07";
const PROBE = "x-serverless-executor-probe";
const SOURCES = Object.freeze({ entry: ENTRY_SOURCE, wasiEntry: WASI_ENTRY_SOURCE, wasi: WASI_SOURCE });

export default {
  async fetch(request, env) {
    if (request.headers.has(PING)) return new Response("pong");
    const job = parseJob(request.headers, new Uint8Array(await request.arrayBuffer()));
    if (typeof job === "string") return new Response(job, { status: 400 });
    let modules;
    try {
      modules = jobModules(job, SOURCES);
    } catch {
      return ended(END.LOAD_FAILED);
    }
    // `load`, not `get` with a fresh id: `get` keeps every isolate it made cached by its id, so
    // a process grew by ≈ 1.5 MB per job and was recycled for memory long before its job quota
    // (measured with workerd 2026-11-17: 1.2 GB after 800 jobs, against 25 MB with `load`).
    const worker = env.LOADER.load({
      compatibilityDate: COMPATIBILITY_DATE,
      mainModule: ENTRY_MODULE,
      modules,
      globalOutbound: null,
    });
    const entry = worker.getEntrypoint();
    if (job.form === "wasi") return runWasiCommand(entry, job);
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

/**
 * Runs a raw WebAssembly command in one call to our WASI entry, which links, runs and caps it
 * itself (it alone reads the cap, to stop a program's stdout early). A rejected call means the
 * isolate never loaded: workerd did not compile the module.
 */
async function runWasiCommand(entry, job) {
  let response;
  try {
    const headers = { [OUTPUT_CAP]: String(job.cap) };
    response = await entry.fetch("http://job/", { method: "POST", headers, body: job.input.buffer });
  } catch {
    return ended(END.LOAD_FAILED);
  }
  const end = wasiEnd(response.status);
  if (end !== END.OK) {
    response.body?.cancel().catch(() => {});
    return ended(end);
  }
  let output;
  try {
    output = await readCapped(response.body, job.cap);
  } catch {
    return ended(END.EXCEPTION);
  }
  return output === null ? ended(END.TOO_LARGE) : ended(END.OK, output);
}
