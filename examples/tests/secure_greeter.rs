//! Runs the `secure-greeter` example (mTLS, authz, an async interceptor, credentials) and
//! checks what it prints, so the README's security sections stay true.

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn secure_greeter_runs_as_the_readme_says() {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_secure-greeter"))
        .output()
        .expect("run secure-greeter");
    assert!(started.elapsed() < Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("client: /helloworld.Greeter/SayHello -> Ok in "),
        "{stdout}"
    );
    assert_eq!(
        lines[1],
        "Hello world (user ali, certificate spiffe://rgrpc.test/client)"
    );
    assert!(lines[2].starts_with("client: /helloworld.Greeter/SayHello -> Unauthenticated"));
    assert_eq!(lines[3], "wrong token: Unauthenticated unknown token");
    assert!(lines[4].starts_with("client: /helloworld.Greeter/SayHello -> PermissionDenied"));
    assert_eq!(
        lines[5],
        "other certificate: PermissionDenied unauthorized RPC request rejected"
    );
}
