//! JSON responses and Feathers error responses, shared by every HTTP answer.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use roost_core::{Error, Value};

const JSON: &str = "application/json; charset=utf-8";

/// `200 OK` with `body` as JSON.
pub(crate) fn json_response(body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"null".to_vec());
    let mut response = Response::new(Body::from(bytes));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

/// The Feathers JSON of `error`, with its code as the status.
pub fn error_response(error: &Error) -> Response {
    let mut response = json_response(&error.to_rest_json());
    *response.status_mut() =
        StatusCode::from_u16(error.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
}
