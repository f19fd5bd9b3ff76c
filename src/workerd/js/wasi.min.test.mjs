// The WASI shim's unit tests (wasi.test.mjs) run again on min/wasi.js, the minified form the
// node hands to every Wasm job's isolate (scripts/minify-js.sh).
globalThis.wasiShimUnderTest = "./min/wasi.js";
await import("./wasi.test.mjs");
