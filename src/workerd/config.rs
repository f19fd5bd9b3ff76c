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
    fn entry_module_carries_the_marker_and_imports_the_user_module() {
        let entry = render_entry_module("00ff");
        assert!(entry.contains(r#"const MARKER = "00ff";"#));
        assert!(entry.contains(r#"import * as user from "user.js";"#));
    }
}
