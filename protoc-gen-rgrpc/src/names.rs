//! Proto names → Rust identifiers and paths, matching the names rust-protobuf's codegen gives
//! the same messages, so generated services and messages line up.

use std::collections::HashMap;

use proc_macro2::{Ident, Span};
use protobuf::descriptor::{DescriptorProto, FileDescriptorProto};

/// Rust keywords (2015–2024 editions, strict and reserved).
const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// Keywords that cannot be raw identifiers; rust-protobuf appends `_` to these.
const NOT_RAW: &[&str] = &["self", "Self", "super", "crate", "extern", "_"];

/// rust-protobuf's escaping (`RustIdent`'s `Display`): its own keyword list, `_` suffix.
const PROTOBUF_KEYWORDS: &[&str] = &[
    "_", "as", "async", "await", "break", "crate", "dyn", "else", "enum", "extern", "false", "fn",
    "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
    "return", "static", "self", "Self", "struct", "super", "true", "trait", "type", "unsafe",
    "use", "while", "continue", "box", "const", "where", "virtual", "proc", "alignof", "become",
    "offsetof", "priv", "pure", "sizeof", "typeof", "unsized", "yield", "do", "abstract", "final",
    "override", "macro",
];

/// Well-known types ship inside the `protobuf` crate rather than being generated.
const WELL_KNOWN_FILES: &[&str] = &[
    "google/protobuf/any.proto",
    "google/protobuf/api.proto",
    "google/protobuf/duration.proto",
    "google/protobuf/empty.proto",
    "google/protobuf/field_mask.proto",
    "google/protobuf/source_context.proto",
    "google/protobuf/struct.proto",
    "google/protobuf/timestamp.proto",
    "google/protobuf/type.proto",
    "google/protobuf/wrappers.proto",
];

fn protobuf_escape(name: &str) -> String {
    if PROTOBUF_KEYWORDS.contains(&name) {
        format!("{name}_")
    } else {
        name.to_owned()
    }
}

/// Checks that a service or method name is a proto identifier (`letter { letter | digit |
/// "_" }`, where `_` counts as a letter), the only names [`ident`] can turn into Rust.
pub fn check_proto_ident(kind: &str, name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name != "_";
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{kind} name {name:?} is not a valid proto identifier"
        ))
    }
}

/// An identifier for a Rust item, raw (`r#type`) where possible, `_`-suffixed otherwise.
pub fn ident(name: &str) -> Ident {
    if NOT_RAW.contains(&name) {
        Ident::new(&format!("{name}_"), Span::call_site())
    } else if KEYWORDS.contains(&name) {
        Ident::new_raw(name, Span::call_site())
    } else {
        Ident::new(name, Span::call_site())
    }
}

/// `SayHello` → `say_hello`, the name of a client and server method.
pub fn method_name(proto_name: &str) -> String {
    protobuf_parse::snake_case(proto_name)
}

/// The module rust-protobuf generates for a `.proto` file: the file stem, with characters that
/// cannot appear in an identifier replaced by `_`.
pub fn file_module(proto_path: &str) -> String {
    let stem = proto_path.rsplit('/').next().unwrap_or(proto_path);
    let stem = stem.strip_suffix(".proto").unwrap_or(stem);
    let name: String = stem
        .chars()
        .enumerate()
        .map(|(i, c)| {
            let ok = c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit());
            if ok {
                c
            } else {
                '_'
            }
        })
        .collect();
    protobuf_escape(&name)
}

/// Fully-qualified proto type name (`.pkg.Outer.Inner`) → Rust path from a module that is a
/// sibling of the generated message modules.
#[derive(Debug)]
pub struct TypePaths {
    paths: HashMap<String, String>,
}

impl TypePaths {
    /// Indexes every message of every file in the request.
    pub fn new(files: &[FileDescriptorProto]) -> TypePaths {
        let mut paths = HashMap::new();
        for file in files {
            let prefix = match file.package() {
                "" => String::new(),
                p => format!(".{p}"),
            };
            let module = if WELL_KNOWN_FILES.contains(&file.name()) {
                format!("::protobuf::well_known_types::{}", file_module(file.name()))
            } else if file.name() == "google/protobuf/descriptor.proto" {
                "::protobuf::descriptor".to_owned()
            } else {
                format!("super::{}", file_module(file.name()))
            };
            for message in &file.message_type {
                index(&mut paths, &prefix, &module, message);
            }
        }
        TypePaths { paths }
    }

    /// The Rust path of a message, or an error naming it.
    pub fn get(&self, proto_type: &str) -> Result<&str, String> {
        self.paths
            .get(proto_type)
            .map(String::as_str)
            .ok_or_else(|| format!("message type {proto_type} is not defined in any input file"))
    }
}

fn index(
    paths: &mut HashMap<String, String>,
    proto_prefix: &str,
    rust_prefix: &str,
    message: &DescriptorProto,
) {
    let proto_name = format!("{proto_prefix}.{}", message.name());
    let rust_name = format!(
        "{rust_prefix}::{}",
        protobuf_escape(&capitalize(message.name()))
    );
    // Nested types live in a module named after their parent, in snake case.
    let nested_module = format!(
        "{rust_prefix}::{}",
        protobuf_escape(&protobuf_parse::snake_case(message.name()))
    );
    for nested in &message.nested_type {
        index(paths, &proto_name, &nested_module, nested);
    }
    paths.insert(proto_name, rust_name);
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_modules_match_rust_protobuf() {
        assert_eq!(file_module("foo/bar/baz.proto"), "baz");
        assert_eq!(file_module("proto.proto3"), "proto_proto3");
        assert_eq!(file_module("my-file.proto"), "my_file");
        assert_eq!(file_module("type.proto"), "type_");
        assert_eq!(file_module("1x.proto"), "_x");
    }

    #[test]
    fn idents_escape_keywords() {
        assert_eq!(ident("type").to_string(), "r#type");
        assert_eq!(ident("self").to_string(), "self_");
        assert_eq!(ident("say_hello").to_string(), "say_hello");
        for bad in ["", "_", "1abc", "a-b", "a.b", "\u{e}\0\0\0h", "é"] {
            assert!(check_proto_ident("method", bad).is_err(), "{bad:?}");
        }
        for good in ["SayHello", "_private", "a1", "type", "Self"] {
            assert!(check_proto_ident("method", good).is_ok(), "{good:?}");
        }
        assert_eq!(method_name("SayHello"), "say_hello");
        assert_eq!(
            method_name("GetHTTPThing"),
            protobuf_parse::snake_case("GetHTTPThing")
        );
    }
}
