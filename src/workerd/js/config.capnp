# The workerd config of every process the node starts (all execution modes). Written as is:
# no user byte ever enters it; the job's code arrives in the request to the loader.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .loader),
    # `fetch()` and `connect()` have nowhere to go, even before the empty network namespace.
    (name = "internet", network = (allow = [])),
  ],
  sockets = [ (name = "http", service = "main", http = ()) ],
  # No background compilation: when code is optimised then depends only on the code, so the same
  # job reaches the same recursion depth (and so the same outcome) in every process. These two
  # flags, not `--single-threaded`: that one (and --no-maglev, --no-concurrent-osr, --stack-size
  # and the Wasm tiering flags) fails the check of workerd's per-isolate bootstrap code cache, so
  # every isolate compiled workerd's own bootstrap from source, ≈ 0.5 ms a job (measured
  # 2026-12-02, workerd's log: "compile cache failed its compatibility check").
  v8Flags = ["--no-concurrent-recompilation", "--no-concurrent-sparkplug"],
);

const loader :Workerd.Worker = (
  modules = [
    (name = "loader.js", esModule = embed "loader.js"),
    (name = "protocol.js", esModule = embed "protocol.js"),
    (name = "entry-source", text = embed "entry.js"),
    (name = "wasi-entry-source", text = embed "entry-wasi.js"),
    (name = "wasi-source", text = embed "wasi.js"),
  ],
  compatibilityDate = "2023-03-07",
  compatibilityFlags = ["experimental"],
  bindings = [ (name = "LOADER", workerLoader = ()) ],
  globalOutbound = "internet",
);
