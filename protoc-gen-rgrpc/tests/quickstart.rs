//! The README's quickstart, done the way a newcomer does it: the commands, `src/main.rs` and
//! `buf.gen.yaml` are read out of README.md (the fenced block after each
//! `<!-- quickstart: NAME -->` marker), so the README cannot drift from what is tested.
//!
//! Each test works in its own directory under the system temp dir, laid out as the README
//! assumes: `rgrpc/` (a symlink to this checkout) next to the new crate `hello/`. The nested
//! cargo builds use their own target dirs, `target/quickstart/edition20xx` in this checkout,
//! so they never wait on the lock of the `cargo test` running them and reruns are
//! incremental. Needs `protoc` (`make deps`), `npm` for the buf test (`make deps`), and
//! crates.io.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The plugin as this `cargo test` built it; stands in for the README's release build.
const PLUGIN: &str = env!("CARGO_BIN_EXE_protoc-gen-rgrpc");
/// Where the README's commands expect the plugin.
const README_PLUGIN: &str = "../rgrpc/target/release/protoc-gen-rgrpc";

/// `cargo add` (crates.io index) and the first, cold build of tokio, h2 and protobuf.
const BUILD_TIMEOUT: Duration = Duration::from_secs(600);
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
const NPM_TIMEOUT: Duration = Duration::from_secs(300);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("plugin crate has a parent")
        .to_path_buf()
}

fn readme() -> String {
    let path = repo().join("README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The body of the fenced code block right after `<!-- quickstart: NAME -->`.
fn block(readme: &str, name: &str) -> String {
    let marker = format!("<!-- quickstart: {name} -->");
    let at = readme
        .find(&marker)
        .unwrap_or_else(|| panic!("README.md has no `{marker}`"));
    let rest = &readme[at + marker.len()..];
    let open = rest
        .find("```")
        .unwrap_or_else(|| panic!("no code block after `{marker}`"));
    let rest = &rest[open..];
    let body = &rest[rest.find('\n').expect("fence line ends") + 1..];
    let close = body
        .find("\n```")
        .unwrap_or_else(|| panic!("code block after `{marker}` is not closed"));
    body[..=close].to_owned()
}

/// A fresh directory for one test, outside any cargo workspace (`cargo new` inside this
/// checkout would add itself to the workspace), with `rgrpc` linked to this checkout.
fn scratch(name: &str) -> PathBuf {
    let mut hasher = DefaultHasher::new();
    repo().hash(&mut hasher);
    let dir = std::env::temp_dir()
        .join(format!("rgrpc-quickstart-{:016x}", hasher.finish()))
        .join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("removing {}: {e}", dir.display()));
    }
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    std::os::unix::fs::symlink(repo(), dir.join("rgrpc")).expect("link rgrpc/ to the checkout");
    dir
}

struct Ran {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` to completion, killing it and everything it started if it takes longer than
/// `timeout`; panics, with its output, unless it succeeds.
fn run(what: &str, cmd: &mut Command, timeout: Duration) -> Ran {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("CARGO_TERM_COLOR", "never")
        .process_group(0);
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start {cmd:?}: {e}"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = pipe.read_to_end(&mut out);
            String::from_utf8_lossy(&out).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break Some(status);
        }
        if started.elapsed() > timeout {
            // The whole process group: `sh` and the cargo/rustc under it.
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(format!("-{}", child.id()))
                .status();
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let ran_stdout = stdout.join().expect("stdout reader");
    let ran_stderr = stderr.join().expect("stderr reader");
    let Some(status) = status else {
        panic!(
            "{what}: timed out after {timeout:?}: {cmd:?}\nstdout:\n{ran_stdout}\nstderr:\n{ran_stderr}"
        );
    };
    assert!(
        status.success(),
        "{what}: {cmd:?} failed ({status})\nstdout:\n{ran_stdout}\nstderr:\n{ran_stderr}"
    );
    eprintln!("{what}: ok in {:.1?}", started.elapsed());
    Ran {
        status,
        stdout: ran_stdout,
        stderr: ran_stderr,
    }
}

fn assert_no_warnings(what: &str, ran: &Ran) {
    let warnings: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning") || l.starts_with("error"))
        .collect();
    assert!(
        warnings.is_empty(),
        "{what} ({}) warned: {warnings:?}\nstderr:\n{}",
        ran.status,
        ran.stderr
    );
}

fn cargo(dir: &Path, target: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target);
    cmd
}

/// README step 2 and 3 in a fresh crate of `edition`, then build (warning-free), run (the
/// served call must answer), clippy `-D warnings` and `cargo fmt --check`.
fn quickstart(edition: &str) {
    let readme = readme();
    let dir = scratch(&format!("edition{edition}"));
    let target = repo()
        .join("target/quickstart")
        .join(format!("edition{edition}"));

    let commands = block(&readme, "commands");
    assert!(
        commands.contains(README_PLUGIN),
        "the quickstart commands no longer use {README_PLUGIN}:\n{commands}"
    );
    let commands = commands.replace(README_PLUGIN, PLUGIN);
    run(
        "quickstart commands",
        Command::new("sh")
            .arg("-ec")
            .arg(&commands)
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", &target),
        BUILD_TIMEOUT,
    );

    let hello = dir.join("hello");
    let manifest_path = hello.join("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path).expect("hello/Cargo.toml");
    // `cargo new` writes its default edition; the 2021 run changes it as a user would.
    let default_edition = "edition = \"2024\"";
    assert!(
        manifest.contains(default_edition),
        "cargo new no longer defaults to 2024:\n{manifest}"
    );
    let manifest = manifest.replace(default_edition, &format!("edition = \"{edition}\""));
    std::fs::write(&manifest_path, manifest).expect("write hello/Cargo.toml");
    for name in ["mod.rs", "helloworld.rs", "helloworld_rgrpc.rs"] {
        assert!(
            hello.join("src/pb").join(name).is_file(),
            "protoc wrote no src/pb/{name}"
        );
    }
    std::fs::write(hello.join("src/main.rs"), block(&readme, "src/main.rs")).expect("main.rs");

    let built = run(
        "cargo build",
        &mut cargo(&hello, &target, &["build"]),
        BUILD_TIMEOUT,
    );
    assert_no_warnings("cargo build", &built);

    let ran = run(
        "cargo run",
        &mut cargo(&hello, &target, &["run", "-q"]),
        RUN_TIMEOUT,
    );
    assert_eq!(
        ran.stdout, "Hello world\nHello again\n",
        "the quickstart binary's output\nstderr:\n{}",
        ran.stderr
    );

    let clippy = run(
        "cargo clippy",
        &mut cargo(&hello, &target, &["clippy", "--", "-D", "warnings"]),
        BUILD_TIMEOUT,
    );
    assert_no_warnings("cargo clippy", &clippy);

    run(
        "cargo fmt --check",
        &mut cargo(&hello, &target, &["fmt", "--check"]),
        RUN_TIMEOUT,
    );
}

#[test]
fn readme_quickstart_edition_2024() {
    quickstart("2024");
}

#[test]
fn readme_quickstart_edition_2021() {
    quickstart("2021");
}

/// `buf`, installed from npm into `target/buf` on first use.
fn buf() -> PathBuf {
    let prefix = repo().join("target/buf");
    let buf = prefix.join("node_modules/.bin/buf");
    if !buf.exists() {
        std::fs::create_dir_all(&prefix).expect("create target/buf");
        let npm_found = Command::new("npm")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(npm_found, "npm not found; `make deps` installs it");
        run(
            "npm install @bufbuild/buf",
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--prefix"])
                .arg(&prefix)
                .arg("@bufbuild/buf@^1"),
            NPM_TIMEOUT,
        );
    }
    buf
}

fn read_dir(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| {
            let entry = entry.expect("dir entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(entry.path()).expect("generated file");
            (name, text)
        })
        .collect()
}

/// rust-protobuf embeds the serialized `FileDescriptorProto`, source code info included, and
/// so does our plugin for reflection (`FILE_DESCRIPTORS`); buf's compiler lists the source
/// locations in another order than protoc: the same bytes in another order. Returns the file
/// with those literals cut out, and the literals' lengths (ours is split over lines, where
/// the order of the bytes moves the breaks, so only rust-protobuf's length is compared).
fn without_descriptor_bytes(text: &str) -> (String, usize) {
    let mut text = text.to_owned();
    let mut len = 0;
    let rust_protobuf = "static file_descriptor_proto_data: &'static [u8] = b\"";
    if let Some(start) = text.find(rust_protobuf) {
        let body = start + rust_protobuf.len();
        let end = text[body..].find("\";").expect("descriptor literal ends");
        len = end;
        text.replace_range(body..body + end, "");
    }
    let ours = "pub const FILE_DESCRIPTORS: &[&[u8]] = &[";
    if let Some(start) = text.find(ours) {
        let body = start + ours.len();
        let end = text[body..].find("];").expect("FILE_DESCRIPTORS ends");
        text.replace_range(body..body + end, "");
    }
    (text, len)
}

/// The README's `buf.gen.yaml` and `buf generate` produce what its protoc command does.
#[test]
fn readme_buf_generate_matches_protoc() {
    let readme = readme();
    let buf = buf();
    let dir = scratch("buf");
    let hello = dir.join("hello");
    std::fs::create_dir_all(&hello).expect("create hello/");
    std::fs::write(hello.join("buf.gen.yaml"), block(&readme, "buf.gen.yaml")).expect("yaml");

    let command = block(&readme, "buf");
    let args: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(
        args.first(),
        Some(&"buf"),
        "the buf block is one `buf` command"
    );
    let plugin_dir = Path::new(PLUGIN).parent().expect("plugin dir");
    let path = std::env::join_paths(std::iter::once(plugin_dir.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .expect("PATH");
    run(
        "buf generate",
        Command::new(&buf)
            .args(&args[1..])
            .current_dir(&hello)
            .env("PATH", path)
            .env("BUF_CACHE_DIR", repo().join("target/buf/cache")),
        RUN_TIMEOUT,
    );

    let reference = dir.join("protoc-out");
    std::fs::create_dir_all(&reference).expect("create protoc-out/");
    let proto = repo().join("proto");
    run(
        "protoc",
        Command::new("protoc")
            .arg("-I")
            .arg(&proto)
            .arg(format!("--plugin=protoc-gen-rgrpc={PLUGIN}"))
            .arg(format!("--rgrpc_out={}", reference.display()))
            .arg(proto.join("helloworld.proto")),
        RUN_TIMEOUT,
    );

    let from_buf = read_dir(&hello.join("src/pb"));
    let from_protoc = read_dir(&reference);
    assert_eq!(
        from_buf.keys().collect::<Vec<_>>(),
        from_protoc.keys().collect::<Vec<_>>(),
        "buf and protoc wrote different files"
    );
    for (name, expected) in &from_protoc {
        let actual = &from_buf[name];
        if name == "helloworld.rs" || name == "helloworld_rgrpc.rs" {
            assert_eq!(
                without_descriptor_bytes(actual),
                without_descriptor_bytes(expected),
                "{name}: buf's output differs from protoc's"
            );
        } else {
            assert_eq!(
                actual, expected,
                "{name}: buf's output differs from protoc's"
            );
        }
    }
}
