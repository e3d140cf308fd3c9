//! gRPC server reflection, `grpc.reflection.v1` and `grpc.reflection.v1alpha`: what `grpcurl`,
//! `buf curl`, Postman and friends ask a server to learn its services without the `.proto`
//! files. grpcurl (before 1.8.8) and grpc-go's tools speak only v1alpha; `buf curl` tries v1
//! first; both are served from one set of descriptors.
//!
//! The descriptors are serialized `FileDescriptorProto`s: the ones the plugin embeds in
//! generated code, or a `protoc --descriptor_set_out` file. Nothing here uses a message
//! library's own reflection.
//!
//! ```
//! use rgrpc_runtime::reflection::ReflectionBuilder;
//!
//! # fn run(descriptor_set: &[u8]) -> Result<(), rgrpc_runtime::reflection::InvalidDescriptor> {
//! let reflection = ReflectionBuilder::new()
//!     .register_file_descriptor_set(descriptor_set)
//!     .service_name("helloworld.Greeter")
//!     .build()?;
//! let server = rgrpc_runtime::Server::builder()
//!     .add_service(reflection.v1())
//!     .add_service(reflection.v1alpha());
//! # Ok(()) }
//! ```
//!
//! Behaviour, per `reflection.proto`: each request on the bidirectional stream gets one
//! response, in order; a name that is not known is an `ErrorResponse` with `NOT_FOUND` inside
//! the stream, which stays open; each file response carries the file asked for and those of
//! its transitive dependencies not yet sent on that stream.

mod pool;

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;

pub use pool::InvalidDescriptor;
use pool::Pool;

use crate::server::{ServerCall, ServerFuture, Service};
use crate::Code;

#[allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod gen {
    pub mod v1;
    pub mod v1alpha;
}

/// The generated messages and clients of `grpc/reflection/v1/reflection.proto`.
pub mod v1 {
    pub use super::gen::v1::reflection::*;
    pub use super::gen::v1::reflection_rgrpc::{
        ServerReflection, ServerReflectionClient, FILE_DESCRIPTORS,
    };
}

/// The generated messages and clients of `grpc/reflection/v1alpha/reflection.proto`.
pub mod v1alpha {
    pub use super::gen::v1alpha::reflection::*;
    pub use super::gen::v1alpha::reflection_rgrpc::{
        ServerReflection, ServerReflectionClient, FILE_DESCRIPTORS,
    };
}

/// `grpc.reflection.v1.ServerReflection`.
pub const V1_SERVICE_NAME: &str = "grpc.reflection.v1.ServerReflection";
/// `grpc.reflection.v1alpha.ServerReflection`.
pub const V1ALPHA_SERVICE_NAME: &str = "grpc.reflection.v1alpha.ServerReflection";

/// Collects descriptors and service names, then [builds](Self::build) the shared
/// [`Reflection`] behind both service versions.
#[derive(Debug, Default)]
pub struct ReflectionBuilder {
    pool: Pool,
    services: Vec<String>,
    error: Option<InvalidDescriptor>,
}

impl ReflectionBuilder {
    /// An empty builder.
    pub fn new() -> ReflectionBuilder {
        ReflectionBuilder::default()
    }

    /// Adds one serialized `FileDescriptorProto`. A file registered twice keeps the copy with
    /// comments (source info). Malformed bytes are reported by [`build`](Self::build).
    pub fn register_encoded_file_descriptor(mut self, bytes: impl Into<Bytes>) -> Self {
        if let Err(e) = self.pool.add(bytes.into()) {
            self.error.get_or_insert(e);
        }
        self
    }

    /// Adds serialized `FileDescriptorProto`s, as generated code embeds them.
    pub fn register_file_descriptors(mut self, files: &[&'static [u8]]) -> Self {
        for file in files {
            self = self.register_encoded_file_descriptor(Bytes::from_static(file));
        }
        self
    }

    /// Adds every file of a serialized `FileDescriptorSet` (what `protoc
    /// --descriptor_set_out --include_imports` writes).
    pub fn register_file_descriptor_set(mut self, bytes: &[u8]) -> Self {
        if let Err(e) = self.pool.add_set(bytes) {
            self.error.get_or_insert(e);
        }
        self
    }

    /// Names a service that `list_services` reports. With none named, every service the
    /// registered files define is listed.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        if !self.services.contains(&name) {
            self.services.push(name);
        }
        self
    }

    /// The reflection state shared by [`Reflection::v1`] and [`Reflection::v1alpha`]; fails
    /// if something registered was not a descriptor.
    pub fn build(self) -> Result<Reflection, InvalidDescriptor> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut services = self.services;
        if services.is_empty() {
            services = self.pool.services().map(str::to_owned).collect();
        }
        services.sort();
        Ok(Reflection {
            shared: Arc::new(Shared {
                pool: self.pool,
                services,
            }),
        })
    }
}

/// Reflection for `services` (and for itself): their names and embedded descriptors.
pub(crate) fn for_services<'a>(
    services: impl Iterator<Item = &'a dyn Service>,
) -> Result<(ReflectionV1, ReflectionV1Alpha), InvalidDescriptor> {
    let mut builder = ReflectionBuilder::new()
        .service_name(V1_SERVICE_NAME)
        .service_name(V1ALPHA_SERVICE_NAME)
        .register_file_descriptors(gen::v1::reflection_rgrpc::FILE_DESCRIPTORS)
        .register_file_descriptors(gen::v1alpha::reflection_rgrpc::FILE_DESCRIPTORS);
    for service in services {
        builder = builder
            .service_name(service.name())
            .register_file_descriptors(service.file_descriptors());
    }
    let reflection = builder.build()?;
    Ok((reflection.v1(), reflection.v1alpha()))
}

/// Descriptors and service names, indexed; hands out the two reflection services.
#[derive(Clone, Debug)]
pub struct Reflection {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    pool: Pool,
    services: Vec<String>,
}

impl Reflection {
    /// `grpc.reflection.v1.ServerReflection`, to add to a server.
    pub fn v1(&self) -> ReflectionV1 {
        ReflectionV1(gen::v1::reflection_rgrpc::ServerReflectionServer::new(
            Handlers {
                shared: self.shared.clone(),
            },
        ))
    }

    /// `grpc.reflection.v1alpha.ServerReflection`, to add to a server.
    pub fn v1alpha(&self) -> ReflectionV1Alpha {
        ReflectionV1Alpha(gen::v1alpha::reflection_rgrpc::ServerReflectionServer::new(
            Handlers {
                shared: self.shared.clone(),
            },
        ))
    }

    /// The service names `list_services` reports.
    pub fn service_names(&self) -> &[String] {
        &self.shared.services
    }
}

/// The handlers behind both generated adapters.
#[derive(Debug)]
struct Handlers {
    shared: Arc<Shared>,
}

/// One reflection request, whichever version it came in.
enum Query<'a> {
    File(&'a str),
    Symbol(&'a str),
    Extension(&'a str, i32),
    ExtensionNumbers(&'a str),
    ListServices,
    Unset,
}

/// Its answer, before it is put in that version's message.
enum Answer {
    Files(Vec<Bytes>),
    ExtensionNumbers(String, Vec<i32>),
    Services(Vec<String>),
    Error(Code, String),
}

impl Shared {
    /// Answers `query`; `sent` is the files already sent on this stream.
    fn answer(&self, query: Query<'_>, sent: &mut HashSet<usize>) -> Answer {
        let pool = &self.pool;
        let file = match query {
            Query::File(name) => pool
                .file_by_name(name)
                .ok_or_else(|| format!("file not found: {name}")),
            Query::Symbol(symbol) => pool
                .file_containing_symbol(symbol)
                .ok_or_else(|| format!("symbol not found: {symbol}")),
            Query::Extension(extendee, number) => pool
                .file_containing_extension(extendee, number)
                .ok_or_else(|| format!("extension not found: {extendee} field {number}")),
            Query::ExtensionNumbers(extendee) => {
                return match pool.extension_numbers(extendee) {
                    Some(numbers) => Answer::ExtensionNumbers(
                        extendee.trim_start_matches('.').to_owned(),
                        numbers,
                    ),
                    None => Answer::Error(Code::NotFound, format!("type not found: {extendee}")),
                }
            }
            Query::ListServices => return Answer::Services(self.services.clone()),
            Query::Unset => {
                return Answer::Error(
                    Code::InvalidArgument,
                    "the request names no message_request".into(),
                )
            }
        };
        match file {
            Ok(file) => Answer::Files(pool.with_dependencies(file, sent)),
            Err(message) => Answer::Error(Code::NotFound, message),
        }
    }
}

/// The same handler for both versions: their messages are field for field the same, in two
/// generated modules.
macro_rules! version {
    ($module:ident, $service:ident, $name:expr, $doc:expr) => {
        #[doc = $doc]
        #[derive(Clone, Debug)]
        pub struct $service(gen::$module::reflection_rgrpc::ServerReflectionServer<Handlers>);

        impl Service for $service {
            fn name(&self) -> &'static str {
                $name
            }

            fn call(&self, method: &str, call: ServerCall) -> ServerFuture {
                self.0.call(method, call)
            }

            fn has_method(&self, method: &str) -> bool {
                self.0.has_method(method)
            }

            fn file_descriptors(&self) -> &'static [&'static [u8]] {
                self.0.file_descriptors()
            }
        }

        impl gen::$module::reflection_rgrpc::ServerReflection for Handlers {
            async fn server_reflection_info(
                &self,
                request: crate::Request<
                    crate::Streaming<gen::$module::reflection::ServerReflectionRequest>,
                >,
                mut responses: crate::ResponseSender<
                    gen::$module::reflection::ServerReflectionResponse,
                >,
            ) -> Result<(), crate::Status> {
                use gen::$module::reflection::server_reflection_request::Message_request as Q;
                use gen::$module::reflection::server_reflection_response::Message_response as R;
                use gen::$module::reflection::{
                    ErrorResponse, ExtensionNumberResponse, FileDescriptorResponse,
                    ListServiceResponse, ServerReflectionResponse, ServiceResponse,
                };

                let mut requests = request.into_message();
                let mut sent = HashSet::new();
                while let Some(request) = requests.message().await? {
                    let query = match &request.message_request {
                        Some(Q::FileByFilename(name)) => Query::File(name),
                        Some(Q::FileContainingSymbol(symbol)) => Query::Symbol(symbol),
                        Some(Q::FileContainingExtension(ext)) => {
                            Query::Extension(&ext.containing_type, ext.extension_number)
                        }
                        Some(Q::AllExtensionNumbersOfType(name)) => Query::ExtensionNumbers(name),
                        Some(Q::ListServices(_)) => Query::ListServices,
                        None => Query::Unset,
                    };
                    let answer = match self.shared.answer(query, &mut sent) {
                        Answer::Files(files) => R::FileDescriptorResponse(FileDescriptorResponse {
                            file_descriptor_proto: files.iter().map(|f| f.to_vec()).collect(),
                            ..Default::default()
                        }),
                        Answer::ExtensionNumbers(base_type_name, extension_number) => {
                            R::AllExtensionNumbersResponse(ExtensionNumberResponse {
                                base_type_name,
                                extension_number,
                                ..Default::default()
                            })
                        }
                        Answer::Services(names) => R::ListServicesResponse(ListServiceResponse {
                            service: names
                                .into_iter()
                                .map(|name| ServiceResponse {
                                    name,
                                    ..Default::default()
                                })
                                .collect(),
                            ..Default::default()
                        }),
                        Answer::Error(code, error_message) => R::ErrorResponse(ErrorResponse {
                            error_code: code as i32,
                            error_message,
                            ..Default::default()
                        }),
                    };
                    let response = ServerReflectionResponse {
                        valid_host: request.host.clone(),
                        original_request: Some(request).into(),
                        message_response: Some(answer),
                        ..Default::default()
                    };
                    responses.send(response).await?;
                }
                Ok(())
            }
        }
    };
}

version!(
    v1,
    ReflectionV1,
    V1_SERVICE_NAME,
    "The `grpc.reflection.v1.ServerReflection` service; made by [`Reflection::v1`]."
);
version!(
    v1alpha,
    ReflectionV1Alpha,
    V1ALPHA_SERVICE_NAME,
    "The `grpc.reflection.v1alpha.ServerReflection` service; made by [`Reflection::v1alpha`]."
);
