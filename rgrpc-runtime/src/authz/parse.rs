//! Reading grpc-go's `authz` policy JSON strictly: unknown fields, wrong types and missing
//! required fields are errors that name where they are (`allow_rules[1].request.paths[0]`).

use std::fmt;

use serde_json::{Map, Value};

use super::{AuthzPolicy, HeaderRule, Pattern, Rule};

/// Why a policy was refused; the message names the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    message: String,
}

impl PolicyError {
    pub(super) fn new(message: impl Into<String>) -> PolicyError {
        PolicyError {
            message: message.into(),
        }
    }

    fn at(path: &str, message: impl fmt::Display) -> PolicyError {
        PolicyError::new(format!("{path}: {message}"))
    }

    pub(super) fn in_file(self, file: &std::path::Path) -> PolicyError {
        PolicyError::new(format!("{}: {}", file.display(), self.message))
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid authorization policy: {}", self.message)
    }
}

impl std::error::Error for PolicyError {}

/// Headers a policy may not match (grpc-go's list): pseudo-headers, `grpc-*`, `host` and
/// the hop-by-hop ones, which never reach a handler as metadata.
const UNSUPPORTED_HEADERS: [&str; 9] = [
    "host",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

pub(super) fn policy(json: &str) -> Result<AuthzPolicy, PolicyError> {
    let value: Value = serde_json::from_str(json).map_err(|e| {
        PolicyError::new(format!(
            "not JSON (line {}, column {}): {e}",
            e.line(),
            e.column()
        ))
    })?;
    let object = object(&value, "policy")?;
    only(object, "policy", &["name", "deny_rules", "allow_rules"])?;
    let name = required_string(object, "policy", "name")?;
    let deny = rules(object.get("deny_rules"), "deny_rules")?;
    let allow = rules(object.get("allow_rules"), "allow_rules")?;
    if allow.is_empty() {
        return Err(PolicyError::new(
            "\"allow_rules\" is not present (a policy must allow something)",
        ));
    }
    Ok(AuthzPolicy { name, deny, allow })
}

fn object<'v>(value: &'v Value, path: &str) -> Result<&'v Map<String, Value>, PolicyError> {
    value
        .as_object()
        .ok_or_else(|| PolicyError::at(path, format!("expected an object, found {}", kind(value))))
}

/// Refuses any field not in `known`: a misspelt field would otherwise silently widen or
/// narrow what the policy allows. Fields of newer grpc-go policies that rgrpc does not
/// implement are refused too, by name.
fn only(object: &Map<String, Value>, path: &str, known: &[&str]) -> Result<(), PolicyError> {
    for key in object.keys() {
        if !known.contains(&key.as_str()) {
            let hint = match key.as_str() {
                "audit_logging_options" => " (audit logging is not supported)",
                _ => "",
            };
            return Err(PolicyError::at(
                path,
                format!("unknown field {key:?}{hint}; expected one of {known:?}"),
            ));
        }
    }
    Ok(())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn required_string(
    object: &Map<String, Value>,
    path: &str,
    field: &str,
) -> Result<String, PolicyError> {
    match object.get(field) {
        None => Err(PolicyError::at(path, format!("{field:?} is not present"))),
        Some(Value::String(s)) if s.is_empty() => {
            Err(PolicyError::at(path, format!("{field:?} is empty")))
        }
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(PolicyError::at(
            &format!("{path}.{field}"),
            format!("expected a string, found {}", kind(other)),
        )),
    }
}

fn array<'v>(value: Option<&'v Value>, path: &str) -> Result<&'v [Value], PolicyError> {
    match value {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(PolicyError::at(
            path,
            format!("expected an array, found {}", kind(other)),
        )),
    }
}

fn strings(value: Option<&Value>, path: &str) -> Result<Vec<String>, PolicyError> {
    array(value, path)?
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) => Ok(s.clone()),
            other => Err(PolicyError::at(
                &format!("{path}[{i}]"),
                format!("expected a string, found {}", kind(other)),
            )),
        })
        .collect()
}

fn rules(value: Option<&Value>, path: &str) -> Result<Vec<Rule>, PolicyError> {
    let mut rules: Vec<Rule> = Vec::new();
    for (i, item) in array(value, path)?.iter().enumerate() {
        let path = format!("{path}[{i}]");
        let object = object(item, &path)?;
        only(object, &path, &["name", "source", "request"])?;
        let name = required_string(object, &path, "name")?;
        if rules.iter().any(|rule| rule.name == name) {
            return Err(PolicyError::at(
                &path,
                format!("a second rule named {name:?}"),
            ));
        }
        let principals = match object.get("source") {
            None | Some(Value::Null) => None,
            Some(source) => {
                let path = format!("{path}.source");
                let source = self::object(source, &path)?;
                only(source, &path, &["principals"])?;
                let principals = strings(source.get("principals"), &format!("{path}.principals"))?;
                // No principals: any caller, as grpc-go reads an empty list.
                (!principals.is_empty())
                    .then(|| principals.iter().map(|p| Pattern::new(p)).collect())
            }
        };
        let (paths, headers) = match object.get("request") {
            None | Some(Value::Null) => (Vec::new(), Vec::new()),
            Some(request) => {
                let path = format!("{path}.request");
                let request = self::object(request, &path)?;
                only(request, &path, &["paths", "headers"])?;
                let paths = strings(request.get("paths"), &format!("{path}.paths"))?;
                let headers = header_rules(request.get("headers"), &format!("{path}.headers"))?;
                (paths.iter().map(|p| Pattern::new(p)).collect(), headers)
            }
        };
        rules.push(Rule {
            name,
            principals,
            paths,
            headers,
        });
    }
    Ok(rules)
}

fn header_rules(value: Option<&Value>, path: &str) -> Result<Vec<HeaderRule>, PolicyError> {
    let mut rules = Vec::new();
    for (i, item) in array(value, path)?.iter().enumerate() {
        let path = format!("{path}[{i}]");
        let object = object(item, &path)?;
        only(object, &path, &["key", "values"])?;
        let key = required_string(object, &path, "key")?.to_ascii_lowercase();
        if key.starts_with(':')
            || key.starts_with("grpc-")
            || UNSUPPORTED_HEADERS.contains(&key.as_str())
        {
            return Err(PolicyError::at(
                &format!("{path}.key"),
                format!("header {key:?} cannot be matched (pseudo-headers, grpc-*, host and hop-by-hop headers are not metadata)"),
            ));
        }
        let name = http::HeaderName::from_bytes(key.as_bytes()).map_err(|_| {
            PolicyError::at(
                &format!("{path}.key"),
                format!("{key:?} is not a header name"),
            )
        })?;
        let values = strings(object.get("values"), &format!("{path}.values"))?;
        if values.is_empty() {
            return Err(PolicyError::at(&path, "\"values\" is not present"));
        }
        rules.push(HeaderRule {
            key: name,
            values: values.iter().map(|v| Pattern::new(v)).collect(),
        });
    }
    Ok(rules)
}
