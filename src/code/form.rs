//! Which form a job's code has, told by its bytes, and what the loader receives for it.
//! Pure: receives the code as uploaded, returns a [`LoaderCode`] or a [`BundleError`] (job
//! outcome 3, as code that does not load).
//!
//! - starts with `\0asm`: a raw WebAssembly module, run as a WASI preview 1 command;
//! - carries a `ustar` magic (with its NUL) at byte 257: a bundle (`super::bundle`), sent in our framing;
//! - anything else: a JavaScript module, sent byte for byte as it always was.

use super::bundle::{self, BundleError};

/// The magic (and version 1) every WebAssembly binary module starts with... at least its
/// first four bytes: a module with another version is still Wasm, and workerd refuses it.
pub const WASM_MAGIC: &[u8; 4] = b"\0asm";

/// A code form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeForm {
    /// A JavaScript module exporting a `fetch` handler.
    JavaScript,
    /// A raw WebAssembly WASI command.
    Wasi,
    /// A ustar archive of modules with a JS entry.
    Bundle,
}

impl CodeForm {
    /// Tells the form by the code's first bytes.
    pub fn of(code: &[u8]) -> Self {
        if code.starts_with(WASM_MAGIC) {
            Self::Wasi
        } else if bundle::looks_like_bundle(code) {
            Self::Bundle
        } else {
            Self::JavaScript
        }
    }

    /// The loader's `x-serverless-executor-code-form` value; none for JavaScript, so its
    /// request is the same as before code forms existed.
    pub fn header(self) -> Option<&'static str> {
        match self {
            Self::JavaScript => None,
            Self::Wasi => Some("wasi"),
            Self::Bundle => Some("bundle"),
        }
    }
}

/// The code as the loader receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoaderCode {
    /// The form.
    pub form: CodeForm,
    /// The bytes: the code itself, or for a bundle our framing of its modules.
    pub bytes: std::sync::Arc<[u8]>,
}

/// Prepares `code` for the loader; a bundle that does not decode strictly is an error.
pub fn for_loader(code: &std::sync::Arc<[u8]>) -> Result<LoaderCode, BundleError> {
    let form = CodeForm::of(code);
    let bytes = match form {
        CodeForm::Bundle => bundle::decode(code)?.into(),
        CodeForm::JavaScript | CodeForm::Wasi => code.clone(),
    };
    Ok(LoaderCode { form, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_is_told_by_the_first_bytes() {
        assert_eq!(CodeForm::of(b"\0asm\x01\0\0\0"), CodeForm::Wasi);
        assert_eq!(CodeForm::of(b"\0asm"), CodeForm::Wasi);
        assert_eq!(CodeForm::of(b""), CodeForm::JavaScript);
        assert_eq!(CodeForm::of(b"export default {}"), CodeForm::JavaScript);
        let mut tar = vec![0u8; 1024];
        tar[257..265].copy_from_slice(b"ustar\x0000");
        assert_eq!(CodeForm::of(&tar), CodeForm::Bundle);
        tar[257..265].copy_from_slice(b"ustar  \0");
        assert_eq!(CodeForm::of(&tar), CodeForm::Bundle);
        let mut text = vec![b' '; 1024];
        text[257..262].copy_from_slice(b"ustar");
        assert_eq!(
            CodeForm::of(&text),
            CodeForm::JavaScript,
            "no NUL: JavaScript"
        );
        assert_eq!(CodeForm::of(&tar[..511]), CodeForm::JavaScript);
    }

    #[test]
    fn javascript_and_wasm_reach_the_loader_byte_for_byte() {
        for code in [
            &b"export default { fetch() {} }\xff"[..],
            b"\0asm\x01\0\0\0",
        ] {
            let code: std::sync::Arc<[u8]> = code.into();
            let prepared = for_loader(&code).unwrap();
            assert!(std::sync::Arc::ptr_eq(&prepared.bytes, &code));
        }
    }
}
