//! The loader's HTTP exchange, shared by the node's processes ([`super::process`]) and the
//! benchmarks' floor ([`super::bare`]): a job's request, reading its answer into evidence, and
//! the warm-up that runs both code forms once. Owns nothing; sends requests through the
//! process's own client.

use tokio::time::Instant;

use super::classify::{End, Evidence};
use super::config::{CODE_FORM_HEADER, CODE_LENGTH_HEADER, END_HEADER, OUTPUT_CAP_HEADER};
use crate::code::form::CodeForm;

/// The warm-up's WASI command (`js/warm-up.wat`, assembled).
pub(super) const WARM_UP_WASM: &[u8] = include_bytes!("js/warm-up.wasm");

/// Sends one request with each of our own trivial modules, a JavaScript echo and a WASI echo,
/// and waits for their answers, so the loader's paths for both forms (our WASI shim and
/// workerd's Wasm compiler among them) have run once before a user's job arrives: the first
/// load of a form in a process costs several times a later one, and in `prewarmed` every job
/// is a process's first. False if the process did not answer correctly.
pub(super) async fn warm_up(client: &reqwest::Client, url: &reqwest::Url, limit: Instant) -> bool {
    const JS_ECHO: &[u8] =
        b"export default { async fetch(r) { return new Response(await r.text()); } };";
    for (form, module) in [
        (CodeForm::JavaScript, JS_ECHO),
        (CodeForm::Wasi, WARM_UP_WASM),
    ] {
        let request = loader_request(client, url, form, module, b"ready", 64);
        let answer = tokio::time::timeout_at(limit, loader_answer(request, 64)).await;
        if !matches!(answer, Ok(Ok(Evidence::Ended(End::Ok(ref body)))) if body == b"ready") {
            return false;
        }
    }
    true
}

/// The loader's request: `code` then `input` in one body, the code's length, the output cap and
/// (for anything but JavaScript) the code's form in headers.
pub(super) fn loader_request(
    client: &reqwest::Client,
    url: &reqwest::Url,
    form: CodeForm,
    code: &[u8],
    input: &[u8],
    cap: usize,
) -> reqwest::RequestBuilder {
    let mut body = Vec::with_capacity(code.len() + input.len());
    body.extend_from_slice(code);
    body.extend_from_slice(input);
    let request = client
        .post(url.clone())
        .header(CODE_LENGTH_HEADER, code.len())
        .header(OUTPUT_CAP_HEADER, cap);
    match form.header() {
        Some(form) => request.header(CODE_FORM_HEADER, form),
        None => request,
    }
    .body(body)
}

/// The connection to the process failed before a whole answer arrived.
#[derive(Debug)]
pub(super) struct Lost;

/// Sends a job to the loader and reads its answer. The loader caps the output itself; reading
/// stops just past the cap anyway, so a loader that misbehaves cannot make us buffer more.
pub(super) async fn loader_answer(
    request: reqwest::RequestBuilder,
    cap: usize,
) -> Result<Evidence, Lost> {
    let mut response = request.send().await.map_err(|_| Lost)?;
    let end = response
        .headers()
        .get(END_HEADER)
        .map(|value| value.as_bytes().to_vec());
    if response.status() != reqwest::StatusCode::OK {
        return Ok(Evidence::LoaderFault("the loader refused the job"));
    }
    let end = match end.as_deref() {
        Some(b"ok") => None,
        Some(b"too-large") => Some(End::TooLarge),
        Some(b"exception") => Some(End::Exception),
        Some(b"load-failed") => Some(End::LoadFailed),
        _ => return Ok(Evidence::LoaderFault("the loader's answer has no end")),
    };
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|_| Lost)? {
        if body.len() + chunk.len() > cap {
            return Ok(Evidence::LoaderFault("the loader sent more than the cap"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Evidence::Ended(end.unwrap_or(End::Ok(body))))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_warm_up_wasm_is_its_wat_source_assembled() {
        let assembled = wat::parse_str(include_str!("js/warm-up.wat")).expect("it assembles");
        assert!(
            super::WARM_UP_WASM == assembled.as_slice(),
            "js/warm-up.wasm is stale: reassemble js/warm-up.wat ({assembled:02x?})"
        );
    }
}
