//! gRPC-Web in a real browser: headless Chromium (Debian's `chromium`, driven by
//! `playwright-core`) loads a page from another origin than the rgrpc server's, so every
//! call is preceded by a real CORS preflight, and calls the greeter and the interop
//! `TestService` with two real gRPC-Web client libraries bundled offline: connect-web
//! (binary, fetch) and the official grpc-web (text mode, XHR). Unary calls, an error
//! status and message, response metadata both ways, deadlines, a stream of several
//! messages; a page from an origin the server does not allow must fail; and the example
//! page in `examples/web/` must greet. The test fails if any result differs; screenshots
//! land in `target/web-browser/`.
//!
//! Needs Chromium (`make deps` installs it), npm (idem) and protoc. Without Chromium the
//! test says so and passes, unless `RGRPC_REQUIRE_BROWSER` is set, as `make test` does.
//! The npm packages (`conformance/web/package-lock.json`) are installed into
//! `target/web-npm` once and reused while the lock file is unchanged.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rgrpc_conformance::interop::{server as interop, ECHO_INITIAL_KEY, ECHO_TRAILING_KEY};
use rgrpc_examples::{GreeterServer, MyGreeter};
use rgrpc_runtime::web::GrpcWeb;
use rgrpc_runtime::Server;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";
/// A first run installs the npm packages; later runs take a few seconds.
const TEST_TIMEOUT: Duration = Duration::from_secs(300);

/// What the page must report, case by case.
const EXPECTED: [(&str, &str); 11] = [
    ("connect: unary (greeter)", "Hello browser ☃"),
    (
        "connect: error status and message",
        "code=NotFound message=not here: ☃ 100%",
    ),
    (
        "connect: metadata both ways",
        "initial=from the page trailing=171,171,171,0,255 payload=3",
    ),
    (
        "connect: deadline",
        "code=DeadlineExceeded before the server's sleep",
    ),
    ("connect: server streaming", "sizes=3,1,4,1,5,9"),
    (
        "connect: deadline after messages",
        "sizes=2,7 code=DeadlineExceeded",
    ),
    ("grpc-web text: unary (greeter)", "Hello text mode"),
    (
        "grpc-web text: error status and message",
        "code=7 message=no entry ⛔",
    ),
    (
        "grpc-web text: metadata both ways",
        "initial=from grpc-web trailing=171,171,171,0,255 payload=4",
    ),
    ("grpc-web text: deadline", "code=4 messages=0"),
    ("grpc-web text: server streaming", "sizes=2,7,1,8,2,8"),
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("conformance sits in the repository")
        .to_path_buf()
}

/// Runs a command to completion, failing the test with its output if it fails.
async fn run(what: &str, command: &mut Command) {
    let output = command
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({})\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Installs the harness's npm packages into `target/web-npm` unless the same lock file is
/// installed there already.
async fn npm_install() -> PathBuf {
    let source = repo().join("conformance/web");
    let dir = repo().join("target/web-npm");
    std::fs::create_dir_all(&dir).unwrap();
    let lock = std::fs::read(source.join("package-lock.json")).unwrap();
    let installed = std::fs::read(dir.join("package-lock.json")).ok();
    if installed.as_deref() != Some(&lock[..]) || !dir.join("node_modules").exists() {
        std::fs::copy(source.join("package.json"), dir.join("package.json")).unwrap();
        std::fs::write(dir.join("package-lock.json"), &lock).unwrap();
        run(
            "npm ci (conformance/web)",
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir),
        )
        .await;
    }
    std::fs::copy(source.join("driver.mjs"), dir.join("driver.mjs")).unwrap();
    dir
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
}

/// Generates the protobuf-es code, bundles the test page and the example page with
/// esbuild, and returns the site directory.
async fn build(npm: &Path) -> PathBuf {
    let root = repo();
    let build = root.join("target/web-build");
    let _ = std::fs::remove_dir_all(&build);
    let src = build.join("src");
    for file in ["test.js", "index.html"] {
        copy(
            &root.join("conformance/web/src").join(file),
            &src.join(file),
        );
    }
    for file in ["greeter.js", "index.html"] {
        copy(
            &root.join("examples/web").join(file),
            &src.join("example").join(file),
        );
    }
    let grpc_proto =
        std::env::var("GRPC_PROTO").unwrap_or_else(|_| "/usr/share/grpc-proto".to_owned());
    let plugin = format!(
        "--plugin=protoc-gen-es={}",
        npm.join("node_modules/.bin/protoc-gen-es").display()
    );
    for (out, includes, files) in [
        (
            src.join("gen"),
            vec![root.join("proto"), PathBuf::from(&grpc_proto)],
            vec![
                "helloworld.proto",
                "grpc/testing/empty.proto",
                "grpc/testing/messages.proto",
                "grpc/testing/test.proto",
            ],
        ),
        (
            src.join("example/gen"),
            vec![root.join("proto")],
            vec!["helloworld.proto"],
        ),
    ] {
        std::fs::create_dir_all(&out).unwrap();
        let mut protoc = Command::new("protoc");
        for include in includes {
            protoc.arg("-I").arg(include);
        }
        protoc
            .arg(&plugin)
            .arg(format!("--es_out={}", out.display()))
            .arg("--es_opt=target=js")
            .args(files);
        run("protoc --es_out", &mut protoc).await;
    }
    let site = build.join("site");
    let esbuild = npm.join("node_modules/.bin/esbuild");
    for (entry, out) in [
        ("src/test.js", "site/test.js"),
        ("src/example/greeter.js", "site/example/greeter.js"),
    ] {
        run(
            "esbuild",
            Command::new(&esbuild)
                .args([entry, "--bundle", "--format=iife", "--log-level=warning"])
                .arg(format!("--outfile={out}"))
                // The packages are in target/web-npm, not beside the sources.
                .env("NODE_PATH", npm.join("node_modules"))
                .current_dir(&build),
        )
        .await;
    }
    copy(&src.join("index.html"), &site.join("index.html"));
    copy(
        &src.join("example/index.html"),
        &site.join("example/index.html"),
    );
    site
}

#[tokio::test(flavor = "multi_thread")]
async fn browsers_call_rgrpc_with_grpc_web() {
    if !Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var_os("RGRPC_REQUIRE_BROWSER").is_none(),
            "{CHROMIUM} not found; `make deps` installs it"
        );
        eprintln!("SKIPPED: {CHROMIUM} not found (`make deps` installs it)");
        return;
    }
    tokio::time::timeout(TEST_TIMEOUT, async {
        let npm = npm_install().await;
        let site = build(&npm).await;
        let out = repo().join("target/web-browser");
        std::fs::create_dir_all(&out).unwrap();

        let mut driver = Command::new("node")
            .arg("driver.mjs")
            .arg(&site)
            .arg(&out)
            .arg(CHROMIUM)
            .current_dir(&npm)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start node driver.mjs");
        let mut lines = BufReader::new(driver.stdout.take().unwrap()).lines();
        let stderr = driver.stderr.take().unwrap();
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                text.push_str(&line);
                text.push('\n');
            }
            text
        });

        // The page's origins are known once the driver serves them; the server then
        // allows exactly the first.
        let page = lines.next_line().await.unwrap().unwrap_or_default();
        let mut origins = page.strip_prefix("PAGE ").expect("PAGE line").split(' ');
        let allowed = origins.next().unwrap().to_owned();
        let denied = origins.next().unwrap().to_owned();
        let echo = [ECHO_INITIAL_KEY, ECHO_TRAILING_KEY];
        let server = Server::builder()
            .add_service(GreeterServer::new(MyGreeter))
            .add_service(interop::service())
            .grpc_web(
                GrpcWeb::new()
                    .allow_origin(&allowed)
                    .allow_headers(echo)
                    .expose_headers(echo),
            )
            .bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve_with_shutdown(async {
            let _ = stopped.await;
        }));
        let mut stdin = driver.stdin.take().unwrap();
        stdin
            .write_all(format!("SERVER http://{addr}\n").as_bytes())
            .await
            .unwrap();

        let mut cases = Vec::new();
        let mut denied_cases = Vec::new();
        let mut example = None;
        let mut preflights = 0;
        let mut console = Vec::new();
        let mut ended = false;
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(case) = line.strip_prefix("CASE ") {
                cases.push(
                    case.split_once('\t')
                        .map(|(n, d)| (n.to_owned(), d.to_owned())),
                );
            } else if let Some(case) = line.strip_prefix("DENIED ") {
                denied_cases.push(case.to_owned());
            } else if let Some(reply) = line.strip_prefix("EXAMPLE ") {
                example = Some(reply.to_owned());
            } else if let Some(n) = line.strip_prefix("PREFLIGHTS ") {
                preflights = n.parse().unwrap_or(0);
            } else if let Some(message) = line.strip_prefix("CONSOLE ") {
                console.push(message.to_owned());
            } else if line == "END" {
                ended = true;
            }
        }
        let status = driver.wait().await.unwrap();
        let stderr = stderr.await.unwrap();
        let context = format!(
            "driver {status}\nconsole:\n{}\nstderr:\n{stderr}",
            console.join("\n")
        );
        assert!(ended && status.success(), "{context}");

        let got: Vec<(String, String)> = cases.into_iter().flatten().collect();
        let want: Vec<(String, String)> = EXPECTED
            .iter()
            .map(|(n, d)| (n.to_string(), d.to_string()))
            .collect();
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "\n{context}");
        }
        assert_eq!(got.len(), want.len(), "{got:#?}\n{context}");
        // The page on the other origin: the preflight is refused, so Chromium never sends
        // the call, and the client sees a failed fetch.
        assert_eq!(
            denied_cases,
            vec!["denied origin: unary (greeter)\tcode=Unknown message=Failed to fetch"],
            "{denied} must be refused\n{context}"
        );
        assert_eq!(example.as_deref(), Some("Hello Chromium"), "{context}");
        // One preflight at least per method the test page calls (Chromium caches the rest).
        assert!(preflights >= 3, "{preflights} preflights\n{context}");
        println!(
            "browser test passed: {} cases, {preflights} preflights; screenshots in {}",
            got.len(),
            out.display()
        );

        let _ = stop.send(());
        serving.await.unwrap().unwrap();
    })
    .await
    .expect("browser test timed out");
}
