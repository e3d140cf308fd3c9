//! The golden files must compile against the runtime and rust-protobuf, and be usable: a client
//! can be built and a server trait implemented, including the methods whose names had to be
//! escaped or numbered.

// Generated message code carries its own `#![allow]`s; the deprecated `Admin.Reset` is used
// on purpose below.
#![allow(deprecated)]

#[rustfmt::skip]
#[path = "golden/expected/mod.rs"]
mod gen;

// The output for proto comments written to break builds, rustdoc and doctests (see
// `hostile_request` in golden.rs).
#[rustfmt::skip]
#[path = "golden/comments/expected/mod.rs"]
mod hostile_gen;

use std::path::{Path, PathBuf};
use std::process::Command;

use gen::common::envelope::Header;
use gen::common::{Envelope, Page};
use gen::keywords::{Ping, Pong};
use gen::keywords_rgrpc::{Keywords, KeywordsClient, KeywordsServer};
use gen::streaming::outer::inner::Deepest;
use gen::streaming::outer::Inner;
use gen::streaming::Outer;
use gen::streaming_rgrpc::{AdminClient, Streams, StreamsClient, StreamsServer};
use hostile_gen::hostile::{Answer, Query};
use hostile_gen::hostile_rgrpc::{Hostile, HostileClient, HostileServer};
use proc_macro2::{Delimiter, TokenStream, TokenTree};
use protobuf::well_known_types::empty::Empty;
use protobuf::well_known_types::timestamp::Timestamp;
use rgrpc_runtime::codegen::Service;
use rgrpc_runtime::{Channel, Request, Response, ResponseSender, Status, Streaming};

type Unary<T> = Result<Response<T>, Status>;

fn unimplemented<T>() -> Result<T, Status> {
    Err(Status::unimplemented(""))
}

struct NoKeywords;

impl Keywords for NoKeywords {
    async fn r#type(&self, _: Request<Ping>) -> Unary<Pong> {
        unimplemented()
    }
    async fn r#async(&self, _: Request<Ping>) -> Unary<Pong> {
        unimplemented()
    }
    async fn self_(&self, _: Request<Ping>) -> Unary<Pong> {
        unimplemented()
    }
    async fn self_2(&self, _: Request<Ping>) -> Unary<Pong> {
        unimplemented()
    }
    async fn get_foo(&self, _: Request<Ping>) -> Unary<Pong> {
        unimplemented()
    }
    async fn get_foo_2(&self, _: Request<Ping>) -> Unary<Pong> {
        unimplemented()
    }
    async fn clone_2(&self, _: Request<Ping>) -> Unary<Pong> {
        unimplemented()
    }
    async fn new_2(&self, _: Request<Ping>) -> Unary<Pong> {
        unimplemented()
    }
    async fn channel_2(
        &self,
        _: Request<Streaming<Ping>>,
        _: ResponseSender<Pong>,
    ) -> Result<(), Status> {
        unimplemented()
    }
}

struct NoStreams;

impl Streams for NoStreams {
    async fn unary(&self, _: Request<Inner>) -> Unary<Deepest> {
        unimplemented()
    }
    async fn server_stream(
        &self,
        _: Request<Page>,
        _: ResponseSender<Envelope>,
    ) -> Result<(), Status> {
        unimplemented()
    }
    async fn client_stream(&self, _: Request<Streaming<Header>>) -> Unary<Empty> {
        unimplemented()
    }
    async fn bidi(
        &self,
        _: Request<Streaming<Timestamp>>,
        _: ResponseSender<Outer>,
    ) -> Result<(), Status> {
        unimplemented()
    }
}

#[test]
fn servers_wrap_implementations() {
    let keywords = KeywordsServer::new(NoKeywords);
    assert_eq!(KeywordsServer::<NoKeywords>::SERVICE_NAME, "Keywords");
    assert_eq!(keywords.clone().name(), "Keywords");

    let streams = StreamsServer::new(NoStreams);
    assert_eq!(
        StreamsServer::<NoStreams>::SERVICE_NAME,
        "golden.nested.v1.Streams"
    );
    assert_eq!(streams.name(), "golden.nested.v1.Streams");
}

#[test]
fn clients_build_on_a_lazy_channel() {
    let channel = Channel::builder("http://127.0.0.1:1")
        .connect_lazy()
        .expect("a valid uri");
    let keywords = KeywordsClient::new(channel.clone());
    let streams = StreamsClient::new(channel.clone());
    let admin = AdminClient::new(channel);
    let _ = (keywords.channel(), streams.channel(), admin.channel());
    // Building the call futures type-checks every generated method; they are never polled, so
    // nothing connects.
    drop((
        keywords.r#type(Ping::new()),
        keywords.self_2(Ping::new()),
        keywords.channel_2(()),
        streams.unary(Inner::new()),
        streams.server_stream(Page::new()),
        streams.client_stream(()),
        streams.bidi(()),
        admin.reset(Empty::new()),
        admin.now(Empty::new()),
    ));
}

struct NoHostile;

impl Hostile for NoHostile {
    async fn indented(&self, _: Request<Query>) -> Unary<Answer> {
        unimplemented()
    }
    async fn fenced(&self, _: Request<Query>) -> Unary<Answer> {
        unimplemented()
    }
    async fn unclosed(&self, _: Request<Query>, _: ResponseSender<Answer>) -> Result<(), Status> {
        unimplemented()
    }
    async fn markup(&self, _: Request<Streaming<Query>>) -> Unary<Answer> {
        unimplemented()
    }
    async fn escapes(
        &self,
        _: Request<Streaming<Query>>,
        _: ResponseSender<Answer>,
    ) -> Result<(), Status> {
        unimplemented()
    }
}

/// Hostile comments compile (this file includes their output) and are usable code.
#[test]
fn hostile_comments_compile() {
    let server = HostileServer::new(NoHostile);
    assert_eq!(server.name(), "golden.comments.v1.Hostile");
    let channel = Channel::builder("http://127.0.0.1:1")
        .connect_lazy()
        .expect("a valid uri");
    let client = HostileClient::new(channel);
    drop((
        client.indented(Query::new()),
        client.fenced(Query::new()),
        client.unclosed(Query::new()),
        client.markup(()),
        client.escapes(()),
    ));
}

fn golden(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(path)
}

/// Every doc block in `code` (each run of `#[doc]` attributes, as `///`/`//!` comments are
/// tokenized) and every type-like name it defines, so the docs can be checked on their own.
fn collect_docs(tokens: TokenStream, blocks: &mut Vec<Vec<String>>, names: &mut Vec<String>) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut current = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        // `#` `!`? `[doc = "..."]`
        let bang = matches!(&tokens.get(i + 1), Some(TokenTree::Punct(p)) if p.as_char() == '!');
        let group = tokens.get(i + 1 + usize::from(bang));
        if let (TokenTree::Punct(p), Some(TokenTree::Group(g))) = (&tokens[i], group) {
            if p.as_char() == '#' && g.delimiter() == Delimiter::Bracket {
                if let Ok(syn::Meta::NameValue(nv)) = syn::parse2::<syn::Meta>(g.stream()) {
                    if nv.path.is_ident("doc") {
                        if let syn::Expr::Lit(syn::ExprLit {
                            lit: syn::Lit::Str(lit),
                            ..
                        }) = nv.value
                        {
                            current.push(lit.value());
                            i += 2 + usize::from(bang);
                            continue;
                        }
                    }
                }
            }
        }
        if !current.is_empty() {
            blocks.push(std::mem::take(&mut current));
        }
        match &tokens[i] {
            TokenTree::Ident(kw)
                if ["struct", "enum", "trait", "mod"].contains(&&*kw.to_string()) =>
            {
                if let Some(TokenTree::Ident(name)) = tokens.get(i + 1) {
                    names.push(name.to_string().trim_start_matches("r#").to_owned());
                }
            }
            TokenTree::Group(g) => collect_docs(g.stream(), blocks, names),
            _ => {}
        }
        i += 1;
    }
    if !current.is_empty() {
        blocks.push(current);
    }
}

/// A crate holding only the doc blocks of `files`, each on a unit struct, beside stand-ins for
/// the names the files define so their intra-doc links resolve.
fn docs_crate(files: &[&str]) -> String {
    let (mut blocks, mut names) = (Vec::new(), Vec::new());
    for code in files {
        let tokens: TokenStream = code.parse().expect("generated code tokenizes");
        collect_docs(tokens, &mut blocks, &mut names);
    }
    names.sort();
    names.dedup();
    let mut out =
        String::from("//! Doc comments of generated code.\n#![allow(non_camel_case_types)]\n");
    for (n, block) in blocks.iter().enumerate() {
        for line in block {
            // As prettyplease and rust-protobuf write them.
            if line.contains('\n') {
                out.push_str(&format!("#[doc = {line:?}]\n"));
            } else {
                out.push_str(&format!("///{line}\n"));
            }
        }
        out.push_str(&format!("pub struct DocBlock{n};\n"));
    }
    for name in names {
        out.push_str(&format!("/// Stand-in.\npub struct {name};\n"));
    }
    out
}

/// Runs rustdoc (`-D warnings`) and its doctests over `source`; the error says what failed.
fn rustdoc(name: &str, source: &str) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("rgrpc-docs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let lib = dir.join("lib.rs");
    std::fs::write(&lib, source).unwrap();
    let rustdoc = std::env::var("RUSTDOC").unwrap_or_else(|_| "rustdoc".into());
    let run = |extra: &[&str]| {
        let output = Command::new(&rustdoc)
            .args([
                "--edition",
                "2021",
                "--crate-type",
                "lib",
                "--crate-name",
                name,
            ])
            .args(extra)
            .arg(&lib)
            .current_dir(&dir)
            .output()
            .unwrap_or_else(|e| panic!("running {rustdoc}: {e}"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    };
    let out_dir = dir.join("doc");
    let (ok, text) = run(&["-D", "warnings", "-o", out_dir.to_str().unwrap()]);
    let result = if !ok {
        Err(format!("rustdoc failed:\n{text}"))
    } else {
        let (ok, text) = run(&["--test"]);
        if !ok {
            Err(format!("doctests failed:\n{text}"))
        } else if !text.contains("running 0 tests") {
            Err(format!("comments became doctests:\n{text}"))
        } else {
            Ok(())
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// No proto comment becomes a doctest, fails one, or draws a rustdoc warning.
#[test]
fn hostile_comments_pass_rustdoc_and_make_no_doctests() {
    let files = ["hostile.rs", "hostile_rgrpc.rs"].map(|name| {
        let path = golden(&format!("comments/expected/{name}"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    });
    let source = docs_crate(&files.each_ref().map(String::as_str));
    assert!(source.contains("compile_error!"), "{source}");
    if let Err(e) = rustdoc("hostile_docs", &source) {
        panic!("{e}\n--- checked docs ---\n{source}");
    }
}

/// The check above would catch what the sanitizer prevents: a raw comment does fail it.
#[test]
fn rustdoc_check_catches_raw_comments() {
    let raw = "pub mod m {\n    /// ```\n    /// not rust\n    /// ```\n    pub struct S;\n}\n";
    let err = rustdoc("raw_docs", &docs_crate(&[raw])).unwrap_err();
    assert!(err.contains("doctests failed"), "{err}");
    let link = "/// See [Missing].\npub struct S;\n";
    let err = rustdoc("raw_link", &docs_crate(&[link])).unwrap_err();
    assert!(err.contains("rustdoc failed"), "{err}");
}
