//! The serialized `FileDescriptorProto`s a generated file embeds for server reflection: the
//! file itself (comments kept, so `grpcurl describe` shows them) and every file it imports,
//! transitively (without source info, which only the file's own readers need).
//!
//! The bytes are written as byte-string literals split over lines, every byte that is not a
//! plain printable character escaped, so the generated file stays readable and diffable.

use std::collections::HashSet;

use protobuf::descriptor::FileDescriptorProto;
use protobuf::plugin::CodeGeneratorRequest;
use protobuf::Message;

/// The name generated code gives the embedded list.
pub const CONST_NAME: &str = "FILE_DESCRIPTORS";

/// `file` and its transitive imports, serialized, the file first then imports depth-first.
pub fn encoded(
    request: &CodeGeneratorRequest,
    file: &FileDescriptorProto,
) -> Result<Vec<Vec<u8>>, String> {
    let mut out = vec![serialize(file)?];
    let mut seen: HashSet<&str> = HashSet::from([file.name()]);
    let mut stack: Vec<&str> = file.dependency.iter().rev().map(String::as_str).collect();
    while let Some(name) = stack.pop() {
        if !seen.insert(name) {
            continue;
        }
        let import = request
            .proto_file
            .iter()
            .find(|f| f.name() == name)
            .ok_or_else(|| {
                format!(
                    "{} imports {name}, whose descriptor is missing",
                    file.name()
                )
            })?;
        stack.extend(import.dependency.iter().rev().map(String::as_str));
        let mut import = import.clone();
        import.source_code_info = Default::default();
        out.push(serialize(&import)?);
    }
    Ok(out)
}

fn serialize(file: &FileDescriptorProto) -> Result<Vec<u8>, String> {
    file.write_to_bytes()
        .map_err(|e| format!("serializing the descriptor of {}: {e}", file.name()))
}

/// A placeholder identifier for descriptor `index`, replaced by [`literal`] after formatting
/// (prettyplease would print a byte string as one line of any length).
pub fn placeholder(index: usize) -> String {
    format!("__rgrpc_descriptor_{index}__")
}

/// `bytes` as a Rust byte-string literal whose lines continue with `\`, indented by `indent`.
pub fn literal(bytes: &[u8], indent: &str) -> String {
    const WIDTH: usize = 88;
    let mut out = String::from("b\"\\\n");
    let mut line = String::new();
    for &b in bytes {
        // Names and plain punctuation stay readable; everything else is escaped: spaces
        // (a continuation line drops leading whitespace), quotes, and the comment text's
        // backticks and brackets, so a doc comment's Markdown never appears raw in the file.
        let piece = if b.is_ascii_alphanumeric() || b"._-/:,;()+*#@!?'=".contains(&b) {
            (b as char).to_string()
        } else {
            format!("\\x{b:02x}")
        };
        if line.len() + piece.len() > WIDTH {
            out.push_str(indent);
            out.push_str(&line);
            out.push_str("\\\n");
            line.clear();
        }
        line.push_str(&piece);
    }
    out.push_str(indent);
    out.push_str(&line);
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_round_trips_every_byte() {
        let bytes: Vec<u8> = (0..=255u8).chain(b"  \"\\ x".iter().copied()).collect();
        let text = literal(&bytes, "    ");
        assert!(text.lines().all(|l| l.len() <= 96), "{text}");
        // Decode as rustc would: `\`-newline skips the newline and leading whitespace.
        let body = text
            .strip_prefix("b\"")
            .and_then(|t| t.strip_suffix('"'))
            .unwrap();
        let mut decoded = Vec::new();
        let mut chars = body.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '\\' {
                decoded.push(c as u8);
                continue;
            }
            match chars.next().unwrap() {
                '\n' => {
                    while chars.peek().is_some_and(|c| c.is_whitespace()) {
                        chars.next();
                    }
                }
                'x' => {
                    let hex: String = [chars.next().unwrap(), chars.next().unwrap()]
                        .iter()
                        .collect();
                    decoded.push(u8::from_str_radix(&hex, 16).unwrap());
                }
                other => decoded.push(other as u8),
            }
        }
        assert_eq!(decoded, bytes);
    }

    #[test]
    fn imports_are_transitive_and_without_source_info() {
        let mut request = CodeGeneratorRequest::new();
        let mut file = |name: &str, deps: &[&str]| {
            let mut f = FileDescriptorProto::new();
            f.set_name(name.into());
            f.dependency = deps.iter().map(|d| d.to_string()).collect();
            f.source_code_info = Some(Default::default()).into();
            request.proto_file.push(f.clone());
            f
        };
        file("c.proto", &[]);
        file("b.proto", &["c.proto"]);
        let a = file("a.proto", &["b.proto", "c.proto"]);
        let encoded = encoded(&request, &a).unwrap();
        let files: Vec<FileDescriptorProto> = encoded
            .iter()
            .map(|b| FileDescriptorProto::parse_from_bytes(b).unwrap())
            .collect();
        let names: Vec<&str> = files.iter().map(|f| f.name()).collect();
        assert_eq!(names, ["a.proto", "b.proto", "c.proto"]);
        assert!(files[0].source_code_info.is_some());
        assert!(files[1].source_code_info.is_none() && files[2].source_code_info.is_none());
    }
}
