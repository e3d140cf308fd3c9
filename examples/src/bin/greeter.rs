//! The greeter end to end in one process: start a server on a free loopback port, call it,
//! print the reply, shut down.

use rgrpc_examples::{GreeterClient, GreeterServer, HelloRequest, MyGreeter};
use rgrpc_runtime::{Channel, Server};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::builder()
        .add_service(GreeterServer::new(MyGreeter))
        .bind("127.0.0.1:0")
        .await?;
    let addr = server.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve_with_shutdown(async {
        let _ = stopped.await;
    }));
    println!("greeter server listening on {addr}");

    let channel = Channel::connect(&format!("http://{addr}")).await?;
    let greeter = GreeterClient::new(channel);
    let reply = greeter
        .say_hello(HelloRequest {
            name: "world".into(),
            ..Default::default()
        })
        .await?;
    println!("greeter client received: {}", reply.message().message);

    let _ = stop.send(());
    serving.await??;
    println!("server shut down");
    Ok(())
}
