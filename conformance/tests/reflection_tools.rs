//! Real reflection clients against our server: grpcurl 1.8.6 (reflection v1alpha only, so the
//! server here serves only v1alpha) and `buf curl` forced onto v1 (the server serves only v1):
//! list, describe, and a call whose schema came from reflection. Each tool's output is
//! printed (run with `--nocapture` to see it) and checked.

mod peer;

use peer::{buf, grpcurl, run_tool, StandardServer, Versions};

const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

async fn tool(program: &std::path::Path, args: &[&str]) -> String {
    let (ok, stdout, stderr) = run_tool(program, args).await;
    let name = program.file_name().unwrap_or_default().to_string_lossy();
    println!("$ {name} {}\n{stdout}{stderr}", args.join(" "));
    assert!(ok, "{name} {args:?} failed:\n{stdout}\n{stderr}");
    stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn grpcurl_over_v1alpha() {
    tokio::time::timeout(TIMEOUT, async {
        let server = StandardServer::start(Versions {
            v1: false,
            v1alpha: true,
        })
        .await;
        let addr = server.addr.to_string();
        let grpcurl = grpcurl();

        let list = tool(&grpcurl, &["-plaintext", &addr, "list"]).await;
        assert_eq!(
            list.lines().collect::<Vec<_>>(),
            [
                "grpc.health.v1.Health",
                "grpc.reflection.v1alpha.ServerReflection",
                "grpc.testing.TestService"
            ]
        );

        let service = tool(
            &grpcurl,
            &["-plaintext", &addr, "describe", "grpc.testing.TestService"],
        )
        .await;
        assert!(service.contains("grpc.testing.TestService is a service:"), "{service}");
        assert!(
            service.contains(
                "rpc UnaryCall ( .grpc.testing.SimpleRequest ) returns ( .grpc.testing.SimpleResponse );"
            ),
            "{service}"
        );
        assert!(
            service.contains("rpc FullDuplexCall ( stream .grpc.testing.StreamingOutputCallRequest ) returns ( stream .grpc.testing.StreamingOutputCallResponse );"),
            "{service}"
        );
        // A message from messages.proto, a dependency of test.proto, sent along with it
        // (imports are embedded without their comments).
        let message = tool(
            &grpcurl,
            &["-plaintext", &addr, "describe", "grpc.testing.SimpleRequest"],
        )
        .await;
        assert!(message.contains("grpc.testing.SimpleRequest is a message:"), "{message}");
        assert!(message.contains("int32 response_size = 2;"), "{message}");

        // A call whose request and response schema grpcurl learned through reflection.
        let call = tool(
            &grpcurl,
            &[
                "-plaintext",
                "-d",
                r#"{"responseSize": 4, "payload": {"body": "AQID"}}"#,
                &addr,
                "grpc.testing.TestService/UnaryCall",
            ],
        )
        .await;
        assert!(call.contains(r#""body": "AAAAAA==""#), "{call}");

        let health = tool(
            &grpcurl,
            &[
                "-plaintext",
                "-d",
                r#"{"service": "grpc.testing.TestService"}"#,
                &addr,
                "grpc.health.v1.Health/Check",
            ],
        )
        .await;
        assert!(health.contains(r#""status": "SERVING""#), "{health}");

        // An unknown symbol: reflection answers NOT_FOUND, grpcurl says so and fails.
        let (ok, stdout, stderr) =
            run_tool(&grpcurl, &["-plaintext", &addr, "describe", "no.Such"]).await;
        println!("$ grpcurl -plaintext {addr} describe no.Such\n{stdout}{stderr}");
        assert!(!ok);
        assert!(stderr.contains("Symbol not found: no.Such"), "{stderr}");
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread")]
async fn buf_curl_over_v1() {
    tokio::time::timeout(TIMEOUT, async {
        let server = StandardServer::start(Versions {
            v1: true,
            v1alpha: false,
        })
        .await;
        let base = format!("http://{}", server.addr);
        let buf = buf();
        let common = [
            "curl",
            "--protocol",
            "grpc",
            "--http2-prior-knowledge",
            "--reflect-protocol",
            "grpc-v1",
        ];
        let with = |extra: &[&str]| -> Vec<String> {
            common.iter().chain(extra).map(|s| s.to_string()).collect()
        };
        let args = with(&["--list-services", &base]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let services = tool(&buf, &args).await;
        assert_eq!(
            services.lines().collect::<Vec<_>>(),
            [
                "grpc.health.v1.Health",
                "grpc.reflection.v1.ServerReflection",
                "grpc.testing.TestService"
            ]
        );

        let args = with(&["--list-methods", &base]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let methods = tool(&buf, &args).await;
        for method in [
            "grpc.testing.TestService/UnaryCall",
            "grpc.testing.TestService/FullDuplexCall",
            "grpc.health.v1.Health/Watch",
        ] {
            assert!(methods.lines().any(|l| l == method), "{method}:\n{methods}");
        }

        let url = format!("{base}/grpc.testing.TestService/UnaryCall");
        let args = with(&["-d", r#"{"responseSize": 4}"#, &url]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let call = tool(&buf, &args).await;
        assert!(call.contains(r#""body": "AAAAAA==""#), "{call}");
    })
    .await
    .expect("test timed out");
}
