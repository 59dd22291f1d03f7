//! Request parts of the admin API that answer bad input with a problem, never a 500: a JSON
//! body (its media type checked, unknown keys and wrong types named by JSON pointer), query
//! parameters, and `If-Match`.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use super::problem::{Cause, Problem};

/// The largest request body the admin API reads.
pub const MAX_BODY: usize = 256 * 1024;

/// A JSON request body of type `T`.
#[derive(Debug)]
pub struct Body<T>(pub T);

/// RFC 6901 pointer of a `serde_path_to_error` path.
fn pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        let part = match seg {
            Segment::Seq { index } => index.to_string(),
            Segment::Map { key } | Segment::Enum { variant: key } => key.clone(),
            Segment::Unknown => continue,
        };
        out.push('/');
        out.push_str(&part.replace('~', "~0").replace('/', "~1"));
    }
    out
}

/// Decode `bytes` as `T`; a problem names the bad field (or the unknown key) by its JSON pointer.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    // The path of an unknown key ends with the key itself.
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| Problem::invalid(pointer(e.path()), e.inner().to_string()))?;
    de.end().map_err(|e| Problem::invalid("", format!("trailing characters after the JSON value: {e}")))?;
    Ok(value)
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase())
            .is_some_and(|m| m == "application/json" || (m.starts_with("application/") && m.ends_with("+json")));
        if !json {
            return Err(Problem::new(Cause::UnsupportedMediaType, "send the body as application/json"));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| Problem::new(Cause::Validation, format!("the body could not be read: {e}")))?;
        if bytes.len() > MAX_BODY {
            return Err(Problem::new(Cause::Validation, format!("the body is over {MAX_BODY} bytes")));
        }
        // Every body of this API is an object (serde would also read a struct from an array).
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(Problem::invalid("", "the body must be a JSON object"));
        }
        decode(&bytes).map(Body)
    }
}

/// Query parameters of type `T` (a bad one is a validation problem pointing at `#/<name>`).
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs: serde_json::Map<String, serde_json::Value> = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
            .collect();
        let bytes = serde_json::to_vec(&pairs).map_err(|e| Problem::new(Cause::Validation, e.to_string()))?;
        decode(&bytes).map(Params).map_err(|mut p| {
            for e in &mut p.errors {
                e.pointer = format!("#{}", e.pointer);
            }
            p
        })
    }
}

/// The page size from `limit` (default 50, at most 200).
pub fn page_size(limit: Option<&str>) -> Result<u32, Problem> {
    match limit {
        None => Ok(50),
        Some(l) => match l.parse::<u32>() {
            Ok(n) if (1..=200).contains(&n) => Ok(n),
            _ => Err(Problem::invalid("#/limit", "must be a whole number from 1 to 200")),
        },
    }
}

/// The strong ETag of a JSON representation.
pub fn etag_of<T: serde::Serialize>(value: &T) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    format!("\"{}\"", &crate::ids::sha256_b64(&bytes)[..22])
}

/// The `If-Match` header of a change, as the OpenAPI document describes it (handlers read it
/// with [`if_match`]).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfMatch {
    /// The `ETag` last read: the change is made only while the resource is still at that
    /// version, else 412 and nothing changes. `*` matches any; without it the change applies
    /// to the current state.
    #[param(rename = "If-Match")]
    #[allow(dead_code)]
    if_match: Option<String>,
}

/// Check `If-Match` against the current `etag` (`None`: the resource does not exist). No header
/// passes; `*` passes when the resource exists; otherwise one listed tag must equal it.
/// `Ok(true)` when a listed tag named the current version: the change must then be made only
/// while the resource is still at that version.
pub fn if_match(headers: &HeaderMap, etag: Option<&str>) -> Result<bool, Problem> {
    let values: Vec<&str> = headers.get_all(header::IF_MATCH).iter().filter_map(|v| v.to_str().ok()).collect();
    if values.is_empty() {
        return Ok(false);
    }
    let tags: Vec<&str> = values.iter().flat_map(|v| v.split(',')).map(str::trim).collect();
    let (exact, any) = match etag {
        None => (false, false),
        Some(current) => (tags.contains(&current), tags.contains(&"*")),
    };
    if exact || any {
        Ok(exact)
    } else {
        Err(Problem::new(Cause::PreconditionFailed, "If-Match does not name the current version; read it again"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        a: u32,
        list: Vec<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        b: bool,
    }

    #[test]
    fn bad_fields_and_unknown_keys_are_named_by_pointer() {
        let p = decode::<T>(br#"{"a": 1, "list": [{"b": true}, {"b": "no"}]}"#).unwrap_err();
        assert_eq!(p.errors[0].pointer, "/list/1/b");
        let p = decode::<T>(br#"{"a": 1, "list": [], "x/y": 2}"#).unwrap_err();
        assert_eq!(p.errors[0].pointer, "/x~1y");
        let p = decode::<T>(br#"{"a": -1, "list": []}"#).unwrap_err();
        assert_eq!((p.status, p.errors[0].pointer.as_str()), (422, "/a"));
        assert!(decode::<T>(br#"{"a": 1, "list": []} x"#).is_err());
    }

    #[test]
    fn if_match_passes_without_the_header_and_refuses_a_stale_tag() {
        let mut h = HeaderMap::new();
        assert!(if_match(&h, Some("\"a\"")).is_ok());
        h.insert(header::IF_MATCH, "\"b\", \"a\"".parse().unwrap());
        assert!(if_match(&h, Some("\"a\"")).is_ok());
        assert_eq!(if_match(&h, Some("\"c\"")).unwrap_err().status, 412);
        h.insert(header::IF_MATCH, "*".parse().unwrap());
        assert!(if_match(&h, Some("\"c\"")).is_ok());
        assert!(if_match(&h, None).is_err());
    }
}
