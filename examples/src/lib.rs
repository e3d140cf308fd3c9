//! rgrpc examples: a greeter (unary) and a route guide (all four RPC shapes), each with its
//! generated code checked in under `gen/` by `make generate`.

pub mod gen;
pub mod route_guide;

pub use gen::helloworld::{HelloReply, HelloRequest};
pub use gen::helloworld_rgrpc::{Greeter, GreeterClient, GreeterServer};

use rgrpc_runtime::{Request, Response, Status};

/// The greeter every example and peer test serves: answers `Hello <name>`.
#[derive(Debug, Default)]
pub struct MyGreeter;

impl Greeter for MyGreeter {
    async fn say_hello(&self, req: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        let name = &req.message().name;
        Ok(Response::new(HelloReply {
            message: format!("Hello {name}"),
            ..Default::default()
        }))
    }
}
