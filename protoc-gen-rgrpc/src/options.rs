//! `--rgrpc_opt=key=value,...`: the plugin's options.

/// Options that shape the generated code. Each is documented in the README.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Generate message code with rust-protobuf's codegen (`messages=false` to leave it to
    /// `protoc-gen-rs`).
    pub messages: bool,
    /// Generate clients (`client=false` to skip).
    pub client: bool,
    /// Generate server traits and adapters (`server=false` to skip).
    pub server: bool,
    /// Write a `mod.rs` that declares every generated module (`mod_rs=false` to skip).
    pub mod_rs: bool,
    /// The path generated code uses for the runtime crate.
    pub runtime_crate: String,
    /// Embed each file's serialized descriptors (and its imports') for server reflection
    /// (`descriptors=false` to leave them out).
    pub descriptors: bool,
    /// rust-protobuf codegen options passed through (`tokio_bytes`, `generate_accessors`, …).
    pub protobuf: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            messages: true,
            client: true,
            server: true,
            mod_rs: true,
            runtime_crate: "::rgrpc_runtime".to_owned(),
            descriptors: true,
            protobuf: Vec::new(),
        }
    }
}

/// rust-protobuf `Customize` options we pass through unchanged.
const PROTOBUF_OPTIONS: &[&str] = &[
    "tokio_bytes",
    "tokio_bytes_for_string",
    "generate_accessors",
    "generate_getter",
    "lite_runtime",
    "btreemap",
];

impl Options {
    /// Parses the comma-separated parameter protoc passes to the plugin.
    pub fn parse(parameter: &str) -> Result<Options, String> {
        let mut options = Options::default();
        for item in parameter
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let (key, value) = item.split_once('=').unwrap_or((item, "true"));
            let key = key.trim();
            let value = value.trim();
            match key {
                "messages" => options.messages = parse_bool(key, value)?,
                "client" => options.client = parse_bool(key, value)?,
                "server" => options.server = parse_bool(key, value)?,
                "mod_rs" => options.mod_rs = parse_bool(key, value)?,
                "descriptors" => options.descriptors = parse_bool(key, value)?,
                "runtime_crate" => {
                    let valid = !value.is_empty() && syn::parse_str::<syn::Path>(value).is_ok();
                    if !valid {
                        return Err(format!("runtime_crate={value:?} is not a Rust path"));
                    }
                    options.runtime_crate = value.to_owned();
                }
                k if PROTOBUF_OPTIONS.contains(&k) => {
                    parse_bool(key, value)?;
                    options.protobuf.push((k.to_owned(), value.to_owned()));
                }
                _ => {
                    return Err(format!(
                        "unknown option {key:?}; known: messages, client, server, mod_rs, \
                         runtime_crate, descriptors, {}",
                        PROTOBUF_OPTIONS.join(", ")
                    ))
                }
            }
        }
        if !options.client && !options.server && !options.messages {
            return Err(
                "client=false, server=false and messages=false leave nothing to generate".into(),
            );
        }
        Ok(options)
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool, String> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("option {key} takes true or false, not {value:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_options() {
        let o = Options::parse(
            "messages=false, server=false,runtime_crate=crate::rt,tokio_bytes=true,descriptors=false",
        )
        .unwrap();
        assert!(!o.messages && !o.server && o.client && !o.descriptors);
        assert_eq!(o.runtime_crate, "crate::rt");
        assert_eq!(o.protobuf, vec![("tokio_bytes".into(), "true".into())]);
        assert_eq!(Options::parse("").unwrap(), Options::default());
    }

    #[test]
    fn rejects_unknown_and_malformed() {
        assert!(Options::parse("nope=1")
            .unwrap_err()
            .contains("unknown option"));
        assert!(Options::parse("client=yes").is_err());
        assert!(Options::parse("runtime_crate=not a path").is_err());
        assert!(Options::parse("client=false,server=false,messages=false").is_err());
    }
}
