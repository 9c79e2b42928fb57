//! The extractors' refusals: a query string or a body that cannot be read as the route expects.

use actix_web::http::StatusCode;

use super::ApiError;

/// Turns a query string that does not parse into a 400 (serde's message names the parameter,
/// and query values are not secrets).
pub fn query_error(error: &actix_web::error::QueryPayloadError) -> ApiError {
    ApiError::bad_request("invalid_query", format!("the query string is invalid: {error}"))
}

/// Turns the JSON extractor's errors into problem documents: 413, 415 or 400, never a 500.
pub fn json_error(error: actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError;
    match error {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is larger than 16 KiB")
        }
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the request body must be application/json",
        ),
        JsonPayloadError::Deserialize(error) if error.is_data() => {
            ApiError::bad_request("invalid_body", schema_mismatch(&error))
        }
        JsonPayloadError::Deserialize(_) => {
            ApiError::bad_request("malformed_json", "the request body is not valid JSON")
        }
        JsonPayloadError::Payload(actix_web::error::PayloadError::Overflow) => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is larger than 16 KiB")
        }
        _ => ApiError::bad_request("invalid_body", "the request body could not be read"),
    }
}

/// Describes a body that is JSON but not of the expected shape, without echoing any value from it
/// (serde's own messages quote values, and a value may be a password).
fn schema_mismatch(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let names_a_field = message.starts_with("unknown field") || message.starts_with("missing field");
    if names_a_field {
        let field = message.split(" at line ").next().unwrap_or_default();
        format!("the request body does not match the schema: {field}")
    } else {
        format!(
            "the request body does not match the schema: a value has the wrong type (line {}, column {})",
            error.line(),
            error.column()
        )
    }
}
