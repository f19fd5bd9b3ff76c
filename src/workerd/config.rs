//! The files of one workerd job: the capnp config, our entry module and the user's module.
//!
//! Pure rendering, no I/O. No byte chosen by the user ever enters the config text: the user's
//! code is a separate file the config `embed`s by a fixed name, so it cannot alter the config's
//! structure. The entry module wraps the user's handler so that an uncaught exception is
//! reported with a per-job secret marker the user's code cannot forge.

/// Name of the user's module file and module.
pub const USER_MODULE: &str = "user.js";
/// Name of our entry module file.
pub const ENTRY_MODULE: &str = "main.js";
/// Name of the config file.
pub const CONFIG_FILE: &str = "config.capnp";
/// Name of the socket the node hands over with `--socket-fd`.
pub const SOCKET_NAME: &str = "http";
/// Response header our entry module sets (with the job's marker) when the user's code throws.
pub const EXCEPTION_HEADER: &str = "x-serverless-executor-exception";

/// Marlin's compatibility date: the same code behaves as it does on Marlin's executor.
const COMPATIBILITY_DATE: &str = "2023-03-07";

/// Warm modes: name of the loader module file and module.
pub const LOADER_MODULE: &str = "loader.js";
/// Warm modes: request header with the length of the code that prefixes the body.
pub const CODE_LENGTH_HEADER: &str = "x-serverless-executor-code-length";
/// Warm modes: request header with the job's exception marker (hex).
pub const JOB_MARKER_HEADER: &str = "x-serverless-executor-job-marker";
/// Warm modes: response header the loader sets (with its process marker) when the user's
/// module failed to load or evaluate: a syntax error or a top-level throw (outcome 3).
pub const LOAD_FAILED_HEADER: &str = "x-serverless-executor-load-failed";

/// The warm modes' capnp config: one loader worker with the `workerLoader` binding (needs
/// `--experimental`), no user code at all. The job's code arrives in each request and is loaded
/// into a fresh isolate; `internet` allows nothing, and loaded workers get no outbound at all.
pub fn render_loader_config() -> String {
    format!(
        r#"using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .loader),
    (name = "internet", network = (allow = [])),
  ],
  sockets = [ (name = "{SOCKET_NAME}", service = "main", http = ()) ],
);

const loader :Workerd.Worker = (
  modules = [ (name = "{LOADER_MODULE}", esModule = embed "{LOADER_MODULE}") ],
  compatibilityDate = "{COMPATIBILITY_DATE}",
  compatibilityFlags = ["experimental"],
  bindings = [ (name = "LOADER", workerLoader = ()) ],
  globalOutbound = "internet",
);
"#
    )
}

/// The loader worker of a warm process. `process_marker` is random per process (hex): only
/// this module, in its own isolate, can produce it. Each request carries the code (prefix of the
/// body, length in a header) and the job's marker; the code is loaded under a fresh random id,
/// so an isolate is never reused, next to our entry module (the same wrapper as the cold mode).
/// A module that fails to load or evaluate makes the call reject: reported with the process
/// marker. Everything the user's code throws at run time is caught inside its isolate.
pub fn render_loader_module(process_marker: &str) -> String {
    debug_assert!(process_marker.bytes().all(|b| b.is_ascii_hexdigit()));
    let entry_template = render_entry_module("00");
    let entry_template = serde_json::to_string(&entry_template).unwrap_or_default();
    format!(
        r#"const PROCESS_MARKER = "{process_marker}";
const ENTRY_TEMPLATE = {entry_template};

export default {{
  async fetch(request, env) {{
    const codeLength = Number(request.headers.get("{CODE_LENGTH_HEADER}"));
    const jobMarker = request.headers.get("{JOB_MARKER_HEADER}") || "";
    const body = new Uint8Array(await request.arrayBuffer());
    if (!Number.isSafeInteger(codeLength) || codeLength < 0 || codeLength > body.length || !/^[0-9a-f]+$/.test(jobMarker)) {{
      return new Response("bad loader request", {{ status: 400 }});
    }}
    const code = new TextDecoder().decode(body.subarray(0, codeLength));
    const input = body.slice(codeLength);
    const entry = ENTRY_TEMPLATE.replace('const MARKER = "00";', 'const MARKER = "' + jobMarker + '";');
    const worker = env.LOADER.get(crypto.randomUUID(), () => ({{
      compatibilityDate: "{COMPATIBILITY_DATE}",
      mainModule: "{ENTRY_MODULE}",
      modules: {{ "{ENTRY_MODULE}": entry, "{USER_MODULE}": code }},
      globalOutbound: null,
    }}));
    try {{
      // An ArrayBuffer body: a typed-array view is streamed between isolates, ~6 ms slower.
      return await worker.getEntrypoint().fetch("http://job/", {{ method: "POST", body: input.buffer }});
    }} catch (error) {{
      return new Response(null, {{ status: 500, headers: {{ "{LOAD_FAILED_HEADER}": PROCESS_MARKER }} }});
    }}
  }},
}};
"#
    )
}

/// The capnp text config. `internet` is redefined with an empty allow list, so `fetch()` and
/// `connect()` have nowhere to go even before the empty network namespace is considered.
pub fn render_config() -> String {
    format!(
        r#"using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "internet", network = (allow = [])),
  ],
  sockets = [ (name = "{SOCKET_NAME}", service = "main", http = ()) ],
);

const worker :Workerd.Worker = (
  modules = [
    (name = "{ENTRY_MODULE}", esModule = embed "{ENTRY_MODULE}"),
    (name = "{USER_MODULE}", esModule = embed "{USER_MODULE}"),
  ],
  compatibilityDate = "{COMPATIBILITY_DATE}",
  globalOutbound = "internet",
);
"#
    )
}

/// Our entry module. `marker` is random per job (hex), so only this module can produce it.
pub fn render_entry_module(marker: &str) -> String {
    debug_assert!(marker.bytes().all(|b| b.is_ascii_hexdigit()));
    format!(
        r#"import * as user from "{USER_MODULE}";

const MARKER = "{marker}";

export default {{
  async fetch(request, env, ctx) {{
    try {{
      return await user.default.fetch(request, env, ctx);
    }} catch (error) {{
      return new Response(null, {{ status: 500, headers: {{ "{EXCEPTION_HEADER}": MARKER }} }});
    }}
  }},
}};
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_denies_all_egress_and_embeds_fixed_file_names() {
        let config = render_config();
        assert!(config.contains(r#"(name = "internet", network = (allow = []))"#));
        assert!(config.contains(r#"embed "user.js""#));
        assert!(config.contains(r#"globalOutbound = "internet""#));
        assert!(config.contains("compatibilityDate = \"2023-03-07\""));
        assert!(
            !config.contains("address"),
            "the socket comes from --socket-fd only"
        );
    }

    #[test]
    fn loader_config_has_no_user_code_and_no_egress() {
        let config = render_loader_config();
        assert!(config.contains(r#"(name = "internet", network = (allow = []))"#));
        assert!(config.contains("workerLoader = ()"));
        assert!(!config.contains("user.js"));
        assert!(!config.contains("address"));
    }

    #[test]
    fn loader_module_embeds_the_entry_template_and_the_process_marker() {
        let loader = render_loader_module("abcd");
        assert!(loader.contains(r#"const PROCESS_MARKER = "abcd";"#));
        assert!(loader.contains(r#"const MARKER = \"00\";"#), "{loader}");
        assert!(
            loader.contains("crypto.randomUUID()"),
            "a fresh isolate per job"
        );
        assert!(loader.contains("globalOutbound: null"));
    }

    #[test]
    fn entry_module_carries_the_marker_and_imports_the_user_module() {
        let entry = render_entry_module("00ff");
        assert!(entry.contains(r#"const MARKER = "00ff";"#));
        assert!(entry.contains(r#"import * as user from "user.js";"#));
    }
}
