//! Golden tests: the plugin's output for `tests/golden/proto` must match the checked-in files in
//! `tests/golden/expected` byte for byte. The inputs are parsed with rust-protobuf's pure parser,
//! so no protoc is needed. After an intended change to the output, rerun with `UPDATE_GOLDEN=1`
//! and review the diff.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use protobuf::descriptor::source_code_info::Location;
use protobuf::descriptor::{
    FileDescriptorProto, MethodDescriptorProto, ServiceDescriptorProto, SourceCodeInfo,
};
use protobuf::plugin::CodeGeneratorRequest;
use protoc_gen_rgrpc::generate;

/// The inputs, relative to `tests/golden/proto` (the include directory), in the order protoc
/// would be given them.
const INPUTS: &[&str] = &[
    "golden/common/v1/common.proto",
    "golden/nested/v1/streaming.proto",
    "keywords.proto",
];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Descriptors for the inputs and everything they import (well-known types come bundled with
/// the parser), dependencies first, as protoc would send them.
fn descriptors() -> Vec<FileDescriptorProto> {
    let include = golden_dir().join("proto");
    let parsed = protobuf_parse::Parser::new()
        .pure()
        .include(&include)
        .inputs(INPUTS.iter().map(|name| include.join(name)))
        .parse_and_typecheck()
        .unwrap_or_else(|e| panic!("parsing golden inputs: {e:#}"));
    parsed.file_descriptors
}

fn request(files: Vec<FileDescriptorProto>, parameter: &str) -> CodeGeneratorRequest {
    let mut request = CodeGeneratorRequest::new();
    request.file_to_generate = INPUTS.iter().map(|name| name.to_string()).collect();
    request.proto_file = files;
    request.set_parameter(parameter.to_owned());
    request
}

fn generate_ok(request: &CodeGeneratorRequest) -> BTreeMap<String, String> {
    generate(request).unwrap_or_else(|e| panic!("generate failed: {e}"))
}

#[test]
fn output_matches_golden_files() {
    let actual = generate_ok(&request(descriptors(), ""));
    check_golden(&actual, &golden_dir().join("expected"));
}

/// Compares `actual` with the files in `expected_dir`, or rewrites them with `UPDATE_GOLDEN=1`.
fn check_golden(actual: &BTreeMap<String, String>, expected_dir: &Path) {
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        // Start from an empty directory so files the generator no longer writes disappear.
        let _ = std::fs::remove_dir_all(expected_dir);
        std::fs::create_dir_all(expected_dir).unwrap();
        for (name, content) in actual {
            std::fs::write(expected_dir.join(name), content).unwrap();
        }
        return;
    }

    let mut expected = BTreeMap::new();
    let entries = std::fs::read_dir(expected_dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", expected_dir.display()));
    for entry in entries {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        expected.insert(name, std::fs::read_to_string(entry.path()).unwrap());
    }

    let mut problems = Vec::new();
    for name in expected.keys().filter(|n| !actual.contains_key(*n)) {
        problems.push(format!("{name}: checked in but no longer generated"));
    }
    for (name, content) in actual {
        match expected.get(name) {
            None => problems.push(format!("{name}: generated but not checked in")),
            Some(want) if want != content => {
                problems.push(format!("{name}: {}", first_difference(want, content)))
            }
            Some(_) => {}
        }
    }
    assert!(
        problems.is_empty(),
        "generated code differs from {}:\n  {}\nIf the change is intended, rerun with \
         UPDATE_GOLDEN=1 cargo test -p protoc-gen-rgrpc --test golden and review the diff.",
        expected_dir.display(),
        problems.join("\n  ")
    );
}

/// `comments/hostile.proto` with the comments protoc would record for it attached: every way
/// a comment could become a failing doctest, a rustdoc warning or a compile error.
fn hostile_request() -> CodeGeneratorRequest {
    let include = golden_dir().join("comments");
    let parsed = protobuf_parse::Parser::new()
        .pure()
        .include(&include)
        .input(include.join("hostile.proto"))
        .parse_and_typecheck()
        .unwrap_or_else(|e| panic!("parsing hostile.proto: {e:#}"));
    let mut files = parsed.file_descriptors;
    let file = files
        .iter_mut()
        .find(|f| f.name() == "hostile.proto")
        .unwrap();
    let mut info = SourceCodeInfo::new();
    // (path, leading comment as protoc records it: the text after `//`, `\n` per line)
    let comments: &[(&[i32], &str)] = &[
        // service Hostile
        (
            &[6, 0],
            " Answers questions.\n\n Example:\n\n     let x: u32 = \"not rust\";\n\n \
             ```\n this is not rust either\n ```\n See [Query] and <b>bold</b>, \
             https://grpc.io/docs.\n",
        ),
        // Indented
        (
            &[6, 0, 2, 0],
            " Indented example:\n\n     fn broken( {\n \tand a tab\n",
        ),
        // Fenced
        (
            &[6, 0, 2, 1],
            " ```rust\n fn main() { compile_error!(\"doctest ran\"); }\n ```\n ~~~\n ``` \
             inside tilde\n ~~~\n```\nno space after the slashes\n```\n",
        ),
        // Unclosed
        (
            &[6, 0, 2, 2],
            " Starts a fence\n ```\n and never ends it */\n",
        ),
        // Markup
        (
            &[6, 0, 2, 3],
            " <div> unclosed [link][ref] [^note] <T> `code [ok]` ` stray\n > quoted\n \
             >     quoted code\n -     list code\n - ```\n   list fence\n",
        ),
        // Escapes
        (
            &[6, 0, 2, 4],
            " Ends with a backslash \\\n next line */ /* \r lone CR \u{202E} bidi\n",
        ),
        // message Query, its fields, message Answer
        (
            &[4, 0],
            " A query.\n\n ```\n compile_error!(\"message doctest\");\n ```\n",
        ),
        (&[4, 0, 2, 0], " The text, e.g. [x] or <y>.\n"),
        (&[4, 0, 2, 1], "     indented\n ```\n fence\n"),
        (
            &[4, 1],
            " See http://example.com/a_(b) and `Query` [Answer].\n",
        ),
    ];
    for (path, comment) in comments {
        let mut location = Location::new();
        location.path = path.to_vec();
        location.set_leading_comments((*comment).into());
        info.location.push(location);
    }
    file.source_code_info = Some(info).into();

    let mut request = CodeGeneratorRequest::new();
    request.file_to_generate = vec!["hostile.proto".into()];
    request.proto_file = files;
    request
}

/// Hostile comments are sanitized in services and messages alike; `golden_compile.rs`
/// compiles the result and runs rustdoc and its doctests over it.
#[test]
fn hostile_comments_match_golden_files() {
    let actual = generate_ok(&hostile_request());
    for (name, code) in &actual {
        for bad in ["```rust", "\u{202E}", "<div>", "[Query]"] {
            assert!(!code.contains(bad), "{name} contains {bad:?}");
        }
        assert!(!code.contains('\r'), "{name} contains a carriage return");
    }
    check_golden(&actual, &golden_dir().join("comments/expected"));
}

/// Where two texts first differ, as `line N` with both versions of that line.
fn first_difference(expected: &str, actual: &str) -> String {
    let mut want = expected.lines();
    let mut got = actual.lines();
    for line in 1.. {
        match (want.next(), got.next()) {
            (Some(w), Some(g)) if w == g => continue,
            (None, None) => break,
            (w, g) => {
                return format!(
                    "first difference at line {line}\n    expected: {}\n    actual:   {}",
                    w.map_or("<end of file>".to_owned(), |w| format!("{w:?}")),
                    g.map_or("<end of file>".to_owned(), |g| format!("{g:?}")),
                )
            }
        }
    }
    // Same lines: only line endings or a final newline differ.
    "differs only in line endings or the final newline".to_owned()
}

#[test]
fn output_is_deterministic() {
    let request = request(descriptors(), "");
    assert_eq!(generate_ok(&request), generate_ok(&request));
}

#[test]
fn colliding_method_names_are_numbered() {
    let out = generate_ok(&request(descriptors(), "messages=false"));
    let code = &out["keywords_rgrpc.rs"];
    // (Rust name, proto method it must route to)
    let expected = [
        ("r#type", "Type"),
        ("r#async", "Async"),
        ("self_", "Self"),
        // `Self_` snake-cases to `self_`, which `Self` already became by escaping.
        ("self_2", "Self_"),
        ("get_foo", "GetFoo"),
        ("get_foo_2", "getFoo"),
        // `clone`, `new` and `channel` are the client's own.
        ("clone_2", "Clone"),
        ("new_2", "New"),
        ("channel_2", "Channel"),
    ];
    for (rust, proto) in expected {
        assert_eq!(code.matches(&format!("fn {rust}(")).count(), 2, "{rust}");
        assert!(code.contains(&format!("\"/Keywords/{proto}\"")), "{proto}");
        assert!(
            code.contains(&format!("<T as Keywords>::{rust}(")),
            "{rust}"
        );
    }
}

#[test]
fn messages_false_writes_only_services_and_mod_rs() {
    let out = generate_ok(&request(descriptors(), "messages=false"));
    let names: Vec<&str> = out.keys().map(String::as_str).collect();
    assert_eq!(names, ["keywords_rgrpc.rs", "mod.rs", "streaming_rgrpc.rs"]);
    assert!(!out["mod.rs"].contains("pub mod common;"));
}

#[test]
fn client_false_writes_no_client() {
    let out = generate_ok(&request(descriptors(), "client=false"));
    for name in ["streaming_rgrpc.rs", "keywords_rgrpc.rs"] {
        // `ClientStream` is a method name; a client would be a struct holding a channel.
        assert!(!out[name].contains("Client {"), "{name} has a client");
        assert!(!out[name].contains("rgrpc::Channel"), "{name} has a client");
        assert!(out[name].contains("Server<T>"), "{name} has no server");
    }
}

#[test]
fn unknown_option_is_an_error_naming_it() {
    let err = generate(&request(descriptors(), "client=false,frobnicate=true")).unwrap_err();
    assert!(err.contains("frobnicate"), "{err}");
}

#[test]
fn missing_type_is_an_error_not_a_panic() {
    let mut method = MethodDescriptorProto::new();
    method.set_name("Get".into());
    method.set_input_type(".missing.v1.Nowhere".into());
    method.set_output_type(".missing.v1.Nowhere".into());
    let mut service = ServiceDescriptorProto::new();
    service.set_name("Lost".into());
    service.method.push(method);
    let mut file = FileDescriptorProto::new();
    file.set_name("lost.proto".into());
    file.set_package("lost.v1".into());
    file.set_syntax("proto3".into());
    file.service.push(service);

    let mut request = CodeGeneratorRequest::new();
    request.file_to_generate = vec!["lost.proto".into()];
    request.proto_file = vec![file];
    for parameter in ["", "messages=false"] {
        request.set_parameter(parameter.into());
        let err = generate(&request).expect_err(parameter);
        if parameter == "messages=false" {
            assert!(err.contains(".missing.v1.Nowhere"), "{err}");
        }
    }
}

/// The pure parser drops comments (it fills in no `source_code_info`), so the golden files
/// carry none; here the locations protoc would send are added by hand.
#[test]
fn comments_become_docs() {
    let mut files = descriptors();
    let file = files
        .iter_mut()
        .find(|f| f.name() == "golden/nested/v1/streaming.proto")
        .unwrap();
    assert!(
        file.source_code_info.location.is_empty(),
        "the pure parser now keeps comments: cover them in the golden files instead"
    );
    let streams = file
        .service
        .iter()
        .position(|s| s.name() == "Streams")
        .unwrap();
    let method = |name: &str| {
        file.service[streams]
            .method
            .iter()
            .position(|m| m.name() == name)
            .unwrap() as i32
    };
    let (unary, bidi) = (method("Unary"), method("Bidi"));
    let mut info = SourceCodeInfo::new();
    let mut locate = |path: Vec<i32>, comment: &str| {
        let mut location = Location::new();
        location.path = path;
        location.set_leading_comments(comment.into());
        info.location.push(location);
    };
    let s = streams as i32;
    // Comment text as protoc records it: everything after `//`, one `\n` per line.
    locate(
        vec![6, s],
        " Moves data in every shape gRPC has.\n\n Second paragraph.\n",
    );
    locate(vec![6, s, 2, unary], " One request, one response.\n");
    locate(
        vec![6, s, 2, bidi],
        " Both directions stream.\n\n     indented like a code block\n",
    );
    file.source_code_info = Some(info).into();

    let out = generate_ok(&request(files, "messages=false"));
    let code = &out["streaming_rgrpc.rs"];
    let service_docs = "\
/// A client for `golden.nested.v1.Streams`.
///
/// Moves data in every shape gRPC has.
///
/// Second paragraph.
#[derive(Clone, Debug)]
pub struct StreamsClient {";
    assert!(code.contains(service_docs), "{code}");
    assert!(code.contains("    /// One request, one response.\n    pub async fn unary("));
    assert!(code.contains("    /// One request, one response.\n    fn unary("));
    // The indented line would be a Markdown code block, i.e. a doctest: it is fenced as
    // text instead, and the prose around it stays prose.
    let fenced = "\
    /// Both directions stream.
    ///
    /// ```text
    /// indented like a code block
    /// ```
";
    assert_eq!(code.matches(fenced).count(), 2, "{code}");
    // Methods without a comment get none, and the other service is untouched.
    assert!(!code.contains("/// A client for `golden.nested.v1.Admin`.\n///\n"));
}

/// Every generated service file embeds its descriptors (file first, imports after) unless
/// `descriptors=false`; the embedded bytes decode to the files protoc described.
#[test]
fn descriptors_are_embedded_unless_turned_off() {
    use protobuf::Message;
    let files = descriptors();
    let on = generate_ok(&request(files.clone(), "messages=false"));
    let off = generate_ok(&request(files, "messages=false,descriptors=false"));
    let services: Vec<&String> = on.keys().filter(|n| n.ends_with("_rgrpc.rs")).collect();
    assert!(!services.is_empty());
    for name in services {
        let (with, without) = (&on[name], &off[name]);
        assert!(
            with.contains("pub const FILE_DESCRIPTORS: &[&[u8]]"),
            "{name}"
        );
        assert!(with.contains("fn file_descriptors(&self)"), "{name}");
        assert!(!without.contains("FILE_DESCRIPTORS"), "{name}");
        assert!(!without.contains("fn file_descriptors"), "{name}");
        assert!(without.contains("fn has_method"), "{name}");
    }
    // Decode one embedded literal the way rustc reads it, and parse it.
    let text = &on["streaming_rgrpc.rs"];
    let constant = text
        .find("pub const FILE_DESCRIPTORS")
        .expect("a FILE_DESCRIPTORS constant");
    let start = constant + text[constant..].find("b\"").expect("a byte string") + 2;
    let body = &text[start..start + text[start..].find('"').unwrap()];
    let mut bytes = Vec::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            bytes.push(c as u8);
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
                bytes.push(u8::from_str_radix(&hex, 16).unwrap());
            }
            other => panic!("unexpected escape \\{other}"),
        }
    }
    let file = FileDescriptorProto::parse_from_bytes(&bytes).expect("a FileDescriptorProto");
    assert!(file.name().ends_with("streaming.proto"), "{}", file.name());
    assert_eq!(file.service.len(), 2);
    // (The pure parser gives no source info; that comments are kept is checked in
    // rgrpc-runtime/tests/reflection.rs on protoc's output.)
}
