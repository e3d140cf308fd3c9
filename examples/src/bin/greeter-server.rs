//! Serves `helloworld.Greeter` until Ctrl-C: `greeter-server [ADDR]` (default
//! 127.0.0.1:50051). Browsers can call it too: gRPC-Web is served on the same port, to pages
//! from any origin (see `examples/web/`).

use rgrpc_examples::{GreeterServer, MyGreeter};
use rgrpc_runtime::web::GrpcWeb;
use rgrpc_runtime::Server;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:50051".into());
    let server = Server::builder()
        .add_service(GreeterServer::new(MyGreeter))
        .grpc_web(GrpcWeb::new().allow_any_origin())
        .bind(addr.as_str())
        .await?;
    println!("listening on {}", server.local_addr()?);
    server
        .serve_with_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
