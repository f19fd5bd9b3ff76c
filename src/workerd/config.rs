//! The files of a workerd process: the capnp config and our JavaScript modules.
//!
//! Every execution mode runs the same process: our loader worker (`js/loader.js`), which loads
//! each job's code into a fresh isolate next to our entry module (`js/entry.js`) and reports
//! how the user's code ended. No byte chosen by a user ever enters a file: the code travels in
//! the request to the loader. The JavaScript lives in `.js` files of its own (unit-tested with
//! `node --test src/workerd/js/`), pulled in here with `include_str!`; what a job's isolate
//! parses anew for every job comes from `js/min/`, esbuild's minified form of those files
//! (`scripts/minify-js.sh`, checked by `scripts/lint.sh`).

/// Name of the config file.
pub const CONFIG_FILE: &str = "config.capnp";
/// Name of the socket the node hands over with `--socket-fd`.
pub const SOCKET_NAME: &str = "http";

/// Request header: length of the code that prefixes the body.
pub const CODE_LENGTH_HEADER: &str = "x-serverless-executor-code-length";
/// Request header: largest output the loader accepts before it answers `too-large`.
pub const OUTPUT_CAP_HEADER: &str = "x-serverless-executor-output-cap";
/// Request header: a liveness check the loader answers at once, without loading anything.
pub const PING_HEADER: &str = "x-serverless-executor-ping";
/// Request header: the code's form, absent for a JavaScript module (`wasi`, `bundle`: see
/// `crate::code::form`).
pub const CODE_FORM_HEADER: &str = "x-serverless-executor-code-form";
/// Response header: how the user's code ended, set only by the loader (see `js/protocol.js`).
pub const END_HEADER: &str = "x-serverless-executor-end";

/// The capnp config (`js/config.capnp`): the loader worker with the `workerLoader` binding
/// (needs `--experimental`), `internet` allowing nothing (loaded workers get no outbound at
/// all), and V8 flags that make a job's behaviour the same in every process (see there).
pub const LOADER_CONFIG: &str = include_str!("js/config.capnp");

/// The module files the config embeds, by file name. The loader's own two are parsed once per
/// process; the other three once per job, so those are the minified ones.
pub const MODULE_FILES: [(&str, &str); 5] = [
    ("loader.js", include_str!("js/loader.js")),
    ("protocol.js", include_str!("js/protocol.js")),
    ("entry.js", include_str!("js/min/entry.js")),
    ("entry-wasi.js", include_str!("js/min/entry-wasi.js")),
    ("wasi.js", include_str!("js/min/wasi.js")),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_denies_all_egress_and_embeds_only_our_modules() {
        assert!(LOADER_CONFIG.contains(r#"(name = "internet", network = (allow = []))"#));
        assert!(LOADER_CONFIG.contains("workerLoader = ()"));
        assert!(LOADER_CONFIG.contains(r#"globalOutbound = "internet""#));
        assert!(
            !LOADER_CONFIG.contains("address"),
            "the socket comes from --socket-fd only"
        );
        for (file, _) in MODULE_FILES {
            assert!(
                LOADER_CONFIG.contains(&format!(r#"embed "{file}""#)),
                "{file}"
            );
        }
    }

    #[test]
    fn the_loader_uses_a_fresh_isolate_without_outbound_for_every_job() {
        let loader = MODULE_FILES[0].1;
        assert!(loader.contains("env.LOADER.load({"));
        assert!(loader.contains("globalOutbound: null"));
    }

    #[test]
    fn header_names_match_the_loader_protocol() {
        let protocol = MODULE_FILES[1].1;
        for header in [
            CODE_LENGTH_HEADER,
            OUTPUT_CAP_HEADER,
            PING_HEADER,
            END_HEADER,
            CODE_FORM_HEADER,
        ] {
            assert!(protocol.contains(&format!(r#""{header}""#)), "{header}");
        }
    }
}
