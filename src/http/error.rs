//! `ApiError`: the one error type of the HTTP layer, mapped to status codes and plain-text
//! bodies in Marlin's style (`<message>\n`). Bodies are our own fixed messages; no internal
//! `Debug` text and no secret ever reaches a response.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::messages::setup::{AuthError, SetupError};

/// Why an HTTP request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Refused by `NodeSetup`.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// The body is not JSON of the expected shape.
    #[error("Json deserialize error: {0}")]
    Json(String),
    /// The request did not say it carries JSON.
    #[error("Content type error: expected application/json")]
    ContentType,
    /// Signature headers present but unreadable.
    #[error("Owner signature headers malformed: {0}")]
    SignatureHeaders(&'static str),
    /// The actor behind the route is gone (shutdown in progress).
    #[error("node is shutting down")]
    Unavailable,
    /// `tx_hash` is not 32 bytes of hex.
    #[error("tx_hash must be 0x followed by 64 hex digits")]
    BadTxHash,
    /// `input` is a JSON string that cannot be decoded.
    #[error("input must be a JSON value or string")]
    BadInput,
    /// The job could not be run (sandbox or chain RPC failing); nothing was signed.
    #[error("execution infrastructure unavailable: {0}")]
    Infrastructure(String),
    /// The route is disabled by configuration.
    #[error("not found")]
    NotFound,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Setup(error) => setup_status(error),
            Self::Json(_)
            | Self::ContentType
            | Self::SignatureHeaders(_)
            | Self::BadTxHash
            | Self::BadInput => StatusCode::BAD_REQUEST,
            Self::Unavailable | Self::Infrastructure(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotFound => StatusCode::NOT_FOUND,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .content_type("text/plain; charset=utf-8")
            .body(format!("{self}\n"))
    }
}

fn setup_status(error: &SetupError) -> StatusCode {
    match error {
        SetupError::GasNonceUnavailable | SetupError::Signing => StatusCode::INTERNAL_SERVER_ERROR,
        SetupError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        SetupError::Unauthorized(AuthError::Missing) => StatusCode::UNAUTHORIZED,
        SetupError::Unauthorized(AuthError::Malformed) => StatusCode::BAD_REQUEST,
        SetupError::Unauthorized(_) => StatusCode::FORBIDDEN,
        SetupError::OwnerAlreadySet
        | SetupError::OwnerHex(_)
        | SetupError::OwnerLength
        | SetupError::OwnerZero
        | SetupError::GasKeyHex(_)
        | SetupError::GasKeyLength
        | SetupError::GasKeyScalar
        | SetupError::GasKeyIsEnclaveKey
        | SetupError::OwnerNotSet
        | SetupError::GasKeyNotSet => StatusCode::BAD_REQUEST,
    }
}
