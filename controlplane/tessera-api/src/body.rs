//! Request bodies: JSON (or `application/x-www-form-urlencoded`, which Express also parsed),
//! size-limited, turned into a `serde_json::Value` or a documented error.

use axum::extract::{FromRequest, Request};
use http::header::CONTENT_TYPE;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The body size limit applied to every request (set from the configuration).
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit(pub usize);

/// A parsed body. An empty body is `Value::Null`.
#[derive(Debug)]
pub struct JsonBody(pub Value);

/// Parses bytes as the API does: empty → null; form-encoded → an object of strings; otherwise
/// JSON, where malformed input is `400 {"code":1201,"message":"Failed to parse JSON body"}`.
pub fn parse_body(content_type: &str, bytes: &[u8]) -> Result<Value, ApiError> {
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    match ct.as_str() {
        "application/x-www-form-urlencoded" => {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes)
                .map_err(|_| ApiError::bad_request("Failed to parse form body"))?;
            Ok(Value::Object(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect::<Map<_, _>>(),
            ))
        }
        "" | "application/json" | "text/plain" => serde_json::from_slice(bytes)
            .map_err(|_| ApiError::bad_request("Failed to parse JSON body")),
        ct if ct.ends_with("+json") => serde_json::from_slice(bytes)
            .map_err(|_| ApiError::bad_request("Failed to parse JSON body")),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let limit = req.extensions().get::<BodyLimit>().map_or(1 << 20, |l| l.0);
        let ct = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|e| {
                if is_length_limit(&e) {
                    ApiError::too_large(limit)
                } else {
                    ApiError::bad_request("Failed to read request body")
                }
            })?;
        parse_body(&ct, &bytes).map(JsonBody)
    }
}

fn is_length_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cur = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_json_forms_and_empty_bodies() {
        assert_eq!(
            parse_body("application/json", b"{\"a\":1}").unwrap()["a"],
            1
        );
        assert_eq!(
            parse_body("application/json; charset=utf-8", b" ").unwrap(),
            Value::Null
        );
        assert_eq!(parse_body("", b"[1]").unwrap()[0], 1);
        let f = parse_body(
            "application/x-www-form-urlencoded",
            b"user=a&role=presenter",
        )
        .unwrap();
        assert_eq!(f["role"], "presenter");
        let e = parse_body("application/json", b"{").unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.code, e.message.as_str()),
            (400, 1201, "Failed to parse JSON body")
        );
        assert_eq!(
            parse_body("image/png", b"x").unwrap_err().status.as_u16(),
            415
        );
    }
}
