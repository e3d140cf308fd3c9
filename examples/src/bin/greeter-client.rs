//! Calls `helloworld.Greeter/SayHello` once: `greeter-client [URI] [NAME]` (default
//! http://127.0.0.1:50051, "world"). Exits non-zero with the status on failure.

use std::process::ExitCode;

use rgrpc_examples::{GreeterClient, HelloRequest};
use rgrpc_runtime::Channel;

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let uri = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:50051".into());
    let name = args.next().unwrap_or_else(|| "world".into());
    let result = async {
        let client = GreeterClient::new(Channel::connect(&uri).await?);
        let request = HelloRequest {
            name,
            ..Default::default()
        };
        client.say_hello(request).await
    }
    .await;
    match result {
        Ok(reply) => {
            println!("{}", reply.message().message);
            ExitCode::SUCCESS
        }
        Err(status) => {
            eprintln!("call failed: {status}");
            ExitCode::FAILURE
        }
    }
}
