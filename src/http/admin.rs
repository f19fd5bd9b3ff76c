//! Marlin-compatible admin routes: same paths, JSON field names, status codes and success
//! strings as protocol.md §2.1. Each route parses the request and sends one message to
//! `NodeSetup`; no route holds state or has a side effect beyond that message.

use actix_web::http::header::HeaderMap;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::error::ApiError;
use super::HttpState;
use crate::actors::node_setup::NodeSetup;
use crate::chain::eip712::keccak;
use crate::domain::decode_hex;
use crate::messages::setup::{
    AdminCall, ConfigureGasKey, ConfigureOwner, GetExecutorDetails, GetSignedRegistration,
    OwnerSignature, SetupError,
};

/// Header carrying the owner's 65-byte signature, `0x` hex.
pub const SIGNATURE_HEADER: &str = "x-owner-signature";
/// Header carrying the signature's nonce (decimal).
pub const NONCE_HEADER: &str = "x-owner-nonce";
/// Header carrying the signature's expiry in unix seconds (decimal).
pub const EXPIRY_HEADER: &str = "x-owner-expiry";

#[derive(Deserialize)]
struct ImmutableConfigBody {
    owner_address_hex: String,
}

#[derive(Deserialize)]
struct MutableConfigBody {
    gas_key_hex: Zeroizing<String>,
}

/// Liveness probe, as Marlin's `GET /`.
#[get("/")]
pub(super) async fn index() -> HttpResponse {
    HttpResponse::Ok().finish()
}

/// Sets the owner, once.
#[post("/immutable-config")]
pub(super) async fn immutable_config(
    state: web::Data<HttpState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let call = admin_call("/immutable-config", &request, &body)?;
    let parsed: ImmutableConfigBody = json_body(&request, &body)?;
    let message = ConfigureOwner {
        owner_hex: parsed.owner_address_hex,
        call,
    };
    setup_call(&state, message, "Immutable params configured!").await
}

/// Installs or rotates the gas key.
#[post("/mutable-config")]
pub(super) async fn mutable_config(
    state: web::Data<HttpState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let call = admin_call("/mutable-config", &request, &body)?;
    let parsed: MutableConfigBody = json_body(&request, &body)?;
    let message = ConfigureGasKey {
        gas_key_hex: parsed.gas_key_hex,
        call,
    };
    setup_call(&state, message, "Mutable params configured!").await
}

/// Sends a mutating admin message to `NodeSetup` and answers Marlin's success string.
async fn setup_call<M, R>(
    state: &HttpState,
    message: M,
    success: &str,
) -> Result<HttpResponse, ApiError>
where
    M: actix::Message<Result = Result<R, SetupError>> + Send + 'static,
    R: Send + 'static,
    NodeSetup: actix::Handler<M>,
{
    state
        .setup
        .send(message)
        .await
        .map_err(|_| ApiError::Unavailable)??;
    Ok(text(success))
}

/// Enclave address and public key, owner and gas addresses.
#[get("/executor-details")]
pub(super) async fn executor_details(
    state: web::Data<HttpState>,
) -> Result<HttpResponse, ApiError> {
    let details = state
        .setup
        .send(GetExecutorDetails)
        .await
        .map_err(|_| ApiError::Unavailable)?;
    Ok(HttpResponse::Ok().json(details))
}

/// A freshly signed `Register` message for `Executors.registerExecutor`. No side effects.
#[get("/signed-registration-message")]
pub(super) async fn signed_registration_message(
    state: web::Data<HttpState>,
) -> Result<HttpResponse, ApiError> {
    let signed = state
        .setup
        .send(GetSignedRegistration)
        .await
        .map_err(|_| ApiError::Unavailable)??;
    Ok(HttpResponse::Ok().json(signed))
}

fn text(message: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(format!("{message}\n"))
}

/// Parses JSON the way Marlin's `Json` extractor does: content type first, then the shape.
fn json_body<T: DeserializeOwned>(request: &HttpRequest, body: &[u8]) -> Result<T, ApiError> {
    let is_json = request
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::ContentType);
    }
    serde_json::from_slice(body).map_err(|error| ApiError::Json(describe_json_error(&error)))
}

/// serde's messages for wrong types and values quote the offending value, which may be a key
/// sent in the wrong field; only messages that name fields alone are passed on.
fn describe_json_error(error: &serde_json::Error) -> String {
    let message = error.to_string();
    if message.starts_with("missing field") || message.starts_with("unknown field") {
        return message;
    }
    let kind = match error.classify() {
        serde_json::error::Category::Io => "unreadable body",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "wrong type or value",
        serde_json::error::Category::Eof => "unexpected end of body",
    };
    format!("{kind} at line {} column {}", error.line(), error.column())
}

/// Binds the route and the exact body bytes to the (optional) owner signature headers.
fn admin_call(
    route: &'static str,
    request: &HttpRequest,
    body: &[u8],
) -> Result<AdminCall, ApiError> {
    Ok(AdminCall {
        route,
        body_hash: keccak(body),
        signature: owner_signature(request.headers())?,
    })
}

fn owner_signature(headers: &HeaderMap) -> Result<Option<OwnerSignature>, ApiError> {
    let read = |name: &str| headers.get(name).map(|value| value.to_str().unwrap_or(""));
    match (
        read(SIGNATURE_HEADER),
        read(NONCE_HEADER),
        read(EXPIRY_HEADER),
    ) {
        (None, None, None) => Ok(None),
        (Some(signature), Some(nonce), Some(expiry)) => Ok(Some(OwnerSignature {
            signature: decode_hex(signature)
                .map_err(|_| ApiError::SignatureHeaders("signature is not hex"))?,
            nonce: nonce
                .parse()
                .map_err(|_| ApiError::SignatureHeaders("nonce is not a u64"))?,
            expiry: expiry
                .parse()
                .map_err(|_| ApiError::SignatureHeaders("expiry is not a u64"))?,
        })),
        _ => Err(ApiError::SignatureHeaders(
            "send all of X-Owner-Signature, X-Owner-Nonce and X-Owner-Expiry",
        )),
    }
}
