//! The jobs loadgen sends: each workload is a JavaScript module in the shape the node runs
//! (`export default { async fetch(request) {...} }`), the input every request carries, and a
//! check of the output a successful run must return.
//!
//! Owns the workload code; sends nothing.

use clap::ValueEnum;

/// What each request runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Workload {
    /// Echo a short string: the executor's own overhead.
    Trivial,
    /// Trial division of a 12-digit semiprime: ~640,000 loop turns (+40 ms p50 over `trivial`
    /// measured on a busy 2-core box).
    Cpu,
    /// Allocate 32 MiB and touch every page.
    Memory,
    /// Return 16 KiB, under the node's 20 KiB output cap.
    LargeOutput,
}

/// The trivial job's input and answer.
const PING: &str = "ping";
/// 640,007² (640,007 is prime): factoring it takes ~640,000 divisions, well inside 2⁵³.
const SEMIPRIME: u64 = 640_007 * 640_007;
const MEMORY_BYTES: usize = 32 * 1024 * 1024;
const LARGE_OUTPUT_BYTES: usize = 16 * 1024;

impl Workload {
    /// The module uploaded to the code contract.
    pub(crate) fn code(self) -> String {
        match self {
            Self::Trivial => {
                "export default { async fetch(request) { return new Response('ok:' + await request.text()); } };"
                    .to_owned()
            }
            Self::Cpu => "export default { async fetch(request) { \
                 const { num } = await request.json(); let n = num; const f = []; \
                 for (let d = 2; d * d <= n; d++) { while (n % d === 0) { f.push(d); n /= d; } } \
                 if (n > 1) f.push(n); return new Response(f.join(',')); } };"
                .to_owned(),
            Self::Memory => format!(
                "export default {{ async fetch(request) {{ \
                 const bytes = new Uint8Array({MEMORY_BYTES}); \
                 for (let i = 0; i < bytes.length; i += 4096) bytes[i] = (i >> 12) & 0xff; \
                 let sum = 0; for (let i = 0; i < bytes.length; i += 4096) sum += bytes[i]; \
                 return new Response('touched:' + (bytes.length >> 20) + 'MiB:' + sum); }} }};"
            ),
            Self::LargeOutput => format!(
                "export default {{ async fetch(request) {{ \
                 return new Response('x'.repeat({LARGE_OUTPUT_BYTES})); }} }};"
            ),
        }
    }

    /// The raw input the worker receives (the direct route's `input` string, createJob's bytes).
    pub(crate) fn input(self) -> String {
        match self {
            Self::Cpu => format!("{{\"num\":{SEMIPRIME}}}"),
            Self::Trivial | Self::Memory | Self::LargeOutput => PING.to_owned(),
        }
    }

    /// Whether `output` is what a successful run of this workload returns.
    pub(crate) fn output_ok(self, output: &[u8]) -> bool {
        match self {
            Self::Trivial => output == format!("ok:{PING}").as_bytes(),
            Self::Cpu => output == b"640007,640007",
            Self::Memory => output.starts_with(b"touched:32MiB:"),
            Self::LargeOutput => output.len() == LARGE_OUTPUT_BYTES,
        }
    }

    /// The name used in reports and file names.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Trivial => "trivial",
            Self::Cpu => "cpu",
            Self::Memory => "memory",
            Self::LargeOutput => "large-output",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_is_a_default_export_with_fetch() {
        for workload in Workload::value_variants() {
            let code = workload.code();
            assert!(code.starts_with("export default {"), "{code}");
            assert!(code.contains("async fetch(request)"), "{code}");
        }
    }

    #[test]
    fn outputs_are_checked_per_workload() {
        assert!(Workload::Trivial.output_ok(b"ok:ping"));
        assert!(!Workload::Trivial.output_ok(b"ok:pong"));
        assert!(Workload::Cpu.output_ok(b"640007,640007"));
        assert!(Workload::LargeOutput.output_ok(&[b'x'; 16 * 1024]));
        assert!(!Workload::LargeOutput.output_ok(b"x"));
        assert!(Workload::Memory.output_ok(b"touched:32MiB:0"));
    }
}
