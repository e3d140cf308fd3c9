//! One proto service → a typed client, a server trait, and the adapter that routes calls to it.

use std::collections::HashSet;

use proc_macro2::TokenStream;
use protobuf::descriptor::{FileDescriptorProto, MethodDescriptorProto, ServiceDescriptorProto};
use quote::{format_ident, quote};

use crate::names::{self, ident, TypePaths};
use crate::options::Options;

/// What generation needs to know about one method.
struct Method<'a> {
    proto: &'a MethodDescriptorProto,
    rust_name: proc_macro2::Ident,
    /// Its descriptor's name, `SAY_HELLO`, and the descriptor, `GreeterMethods::SAY_HELLO`.
    constant: proc_macro2::Ident,
    descriptor: TokenStream,
    path: String,
    input: TokenStream,
    output: TokenStream,
    docs: TokenStream,
    deprecated: bool,
}

/// Generates the client and server code for one service of `file`.
pub fn generate(
    file: &FileDescriptorProto,
    index: usize,
    service: &ServiceDescriptorProto,
    types: &TypePaths,
    options: &Options,
) -> Result<TokenStream, String> {
    let full_name = match file.package() {
        "" => service.name().to_owned(),
        package => format!("{package}.{}", service.name()),
    };
    let methods = methods(file, index, service, &full_name, types)?;
    let service_docs = docs(file, &[6, index as i32]);
    let mut out = TokenStream::new();
    if options.client || options.server {
        out.extend(descriptors(service, &full_name, &methods));
    }
    if options.client {
        out.extend(client(service, &full_name, &service_docs, &methods));
    }
    if options.server {
        out.extend(server(
            service,
            &full_name,
            &service_docs,
            &methods,
            options.descriptors,
        ));
    }
    Ok(out)
}

fn methods<'a>(
    file: &FileDescriptorProto,
    service_index: usize,
    service: &'a ServiceDescriptorProto,
    full_name: &str,
    types: &TypePaths,
) -> Result<Vec<Method<'a>>, String> {
    // Names the client and server already use for their own items.
    let mut taken: HashSet<String> = ["new", "channel", "clone", "fmt"]
        .into_iter()
        .map(String::from)
        .collect();
    // Two proto names can map to one Rust name (`GetFoo`, `getFoo`; `Self`, escaped to
    // `self_`, and `Self_`): keep the first, number the rest, in declaration order so output
    // is deterministic. Escaped names are compared, since those are what collide.
    let escaped = |name: &str| ident(name).to_string().trim_start_matches("r#").to_owned();
    let holder = methods_ident(service);
    let mut methods = Vec::new();
    for (i, proto) in service.method.iter().enumerate() {
        let base = names::method_name(proto.name());
        let mut name = base.clone();
        let mut n = 1;
        while taken.contains(&escaped(&name)) {
            n += 1;
            // `self_` numbers as `self_2`: a double underscore is not snake case.
            name = format!("{}_{n}", base.trim_end_matches('_'));
        }
        taken.insert(escaped(&name));
        let input = rust_type(types, proto.input_type())?;
        let output = rust_type(types, proto.output_type())?;
        let constant = format_ident!("{}", escaped(&name).to_uppercase());
        methods.push(Method {
            proto,
            descriptor: quote!(#holder::#constant),
            constant,
            rust_name: ident(&name),
            path: format!("/{full_name}/{}", proto.name()),
            input,
            output,
            docs: docs(file, &[6, service_index as i32, 2, i as i32]),
            deprecated: proto.options.deprecated(),
        });
    }
    Ok(methods)
}

fn rust_type(types: &TypePaths, proto_type: &str) -> Result<TokenStream, String> {
    let path = types.get(proto_type)?;
    syn::parse_str::<syn::Path>(path)
        .map(|p| quote!(#p))
        .map_err(|e| format!("type {proto_type} maps to invalid Rust path {path:?}: {e}"))
}

/// Proto comments at `path` in the file's source info, as `#[doc]` attributes.
fn docs(file: &FileDescriptorProto, path: &[i32]) -> TokenStream {
    let Some(location) = file
        .source_code_info
        .location
        .iter()
        .find(|l| l.path == path)
    else {
        return TokenStream::new();
    };
    // Proto comments are plain text, not Markdown: `doc::sanitize` keeps them from becoming
    // doctests, broken links or HTML.
    let mut attrs = TokenStream::new();
    for line in crate::doc::sanitize(location.leading_comments()) {
        let line = if line.is_empty() {
            line
        } else {
            format!(" {line}")
        };
        attrs.extend(quote!(#[doc = #line]));
    }
    attrs
}

/// An empty doc line between our summary and the proto's comment, when there is one.
fn separator(docs: &TokenStream) -> TokenStream {
    if docs.is_empty() {
        TokenStream::new()
    } else {
        quote!(#[doc = ""])
    }
}

/// `GreeterMethods`: the holder of a service's method descriptors.
fn methods_ident(service: &ServiceDescriptorProto) -> proc_macro2::Ident {
    format_ident!(
        "{}Methods",
        ident(service.name()).to_string().trim_start_matches("r#")
    )
}

/// One `rgrpc::Method` constant per method, shared by the client and the server, so both
/// name `ProtobufCodec<Request, Response>` in the same order.
fn descriptors(
    service: &ServiceDescriptorProto,
    full_name: &str,
    methods: &[Method],
) -> TokenStream {
    let holder = methods_ident(service);
    let summary = format!(
        " The methods of `{full_name}`, one descriptor each, used by its client and its server."
    );
    let constants = methods.iter().map(|m| {
        let Method {
            constant,
            path,
            input,
            output,
            ..
        } = m;
        let doc = format!(" `{path}`.");
        let kind = match (m.proto.client_streaming(), m.proto.server_streaming()) {
            (false, false) => quote!(Unary),
            (false, true) => quote!(ServerStreaming),
            (true, false) => quote!(ClientStreaming),
            (true, true) => quote!(BidiStreaming),
        };
        quote! {
            #[doc = #doc]
            pub const #constant: rgrpc::Method<rgrpc::ProtobufCodec<#input, #output>> =
                rgrpc::Method::new(#path, rgrpc::MethodKind::#kind);
        }
    });
    quote! {
        #[doc = #summary]
        #[derive(Clone, Copy, Debug)]
        pub struct #holder;

        impl #holder {
            #(#constants)*
        }
    }
}

fn client(
    service: &ServiceDescriptorProto,
    full_name: &str,
    service_docs: &TokenStream,
    methods: &[Method],
) -> TokenStream {
    let client = format_ident!(
        "{}Client",
        ident(service.name()).to_string().trim_start_matches("r#")
    );
    let summary = format!(" A client for `{full_name}`.");
    let deprecated = service.options.deprecated().then(|| quote!(#[deprecated]));
    let calls = methods.iter().map(|m| {
        let Method {
            rust_name,
            descriptor,
            input,
            output,
            docs,
            ..
        } = m;
        let deprecated = m.deprecated.then(|| quote!(#[deprecated]));
        let gap = separator(docs);
        match (m.proto.client_streaming(), m.proto.server_streaming()) {
            (false, false) => quote! {
                #docs
                #deprecated
                pub async fn #rust_name(
                    &self,
                    request: impl rgrpc::IntoRequest<#input>,
                ) -> Result<rgrpc::Response<#output>, rgrpc::Status> {
                    rgrpc::unary(&self.channel, &#descriptor, request.into_request()).await
                }
            },
            (false, true) => quote! {
                #docs
                #deprecated
                pub async fn #rust_name(
                    &self,
                    request: impl rgrpc::IntoRequest<#input>,
                ) -> Result<rgrpc::Streaming<#output>, rgrpc::Status> {
                    rgrpc::server_streaming(&self.channel, &#descriptor, request.into_request())
                        .await
                }
            },
            (true, false) => quote! {
                #docs
                #gap
                /// Client streaming: send with the returned call, then `finish` it for the response.
                #deprecated
                pub async fn #rust_name(
                    &self,
                    request: impl rgrpc::IntoRequest<()>,
                ) -> Result<rgrpc::ClientStreamingCall<#input, #output>, rgrpc::Status> {
                    rgrpc::client_streaming(&self.channel, &#descriptor, request.into_request())
                        .await
                }
            },
            (true, true) => quote! {
                #docs
                #gap
                /// Bidirectional streaming: a sender for requests and a stream of responses.
                #deprecated
                pub async fn #rust_name(
                    &self,
                    request: impl rgrpc::IntoRequest<()>,
                ) -> Result<(rgrpc::RequestSender<#input>, rgrpc::Streaming<#output>), rgrpc::Status> {
                    rgrpc::streaming(&self.channel, &#descriptor, request.into_request()).await
                }
            },
        }
    });
    let gap = separator(service_docs);
    quote! {
        #[doc = #summary]
        #gap
        #service_docs
        #deprecated
        #[derive(Clone, Debug)]
        pub struct #client {
            channel: rgrpc::Channel,
        }

        impl #client {
            /// Makes calls over `channel`; cloning the client is cheap and shares it.
            pub fn new(channel: rgrpc::Channel) -> Self {
                Self { channel }
            }

            /// The channel calls go over.
            pub fn channel(&self) -> &rgrpc::Channel {
                &self.channel
            }

            #(#calls)*
        }
    }
}

fn server(
    service: &ServiceDescriptorProto,
    full_name: &str,
    service_docs: &TokenStream,
    methods: &[Method],
    descriptors: bool,
) -> TokenStream {
    let trait_name = ident(service.name());
    let method_names: Vec<&str> = methods.iter().map(|m| m.proto.name()).collect();
    let has_method = if method_names.is_empty() {
        quote!(false)
    } else {
        quote!(matches!(method, #(#method_names)|*))
    };
    // The file's embedded descriptors (`descriptors.rs`), for server reflection.
    let file_descriptors = descriptors.then(|| {
        let name = format_ident!("{}", crate::descriptors::CONST_NAME);
        quote! {
            fn file_descriptors(&self) -> &'static [&'static [u8]] {
                #name
            }
        }
    });
    let bare = trait_name.to_string().trim_start_matches("r#").to_owned();
    let server = format_ident!("{}Server", bare);
    let trait_summary =
        format!(" The server side of `{full_name}`: implement it and serve it with [`{server}`].");
    let server_summary = format!(" Routes `{full_name}` calls to a [`{bare}`] implementation.");
    let signatures = methods.iter().map(|m| {
        let Method {
            rust_name,
            input,
            output,
            docs,
            ..
        } = m;
        match (m.proto.client_streaming(), m.proto.server_streaming()) {
            (false, false) => quote! {
                #docs
                fn #rust_name(
                    &self,
                    request: rgrpc::Request<#input>,
                ) -> impl rgrpc::Future<Output = Result<rgrpc::Response<#output>, rgrpc::Status>> + Send;
            },
            (false, true) => quote! {
                #docs
                fn #rust_name(
                    &self,
                    request: rgrpc::Request<#input>,
                    responses: rgrpc::ResponseSender<#output>,
                ) -> impl rgrpc::Future<Output = Result<(), rgrpc::Status>> + Send;
            },
            (true, false) => quote! {
                #docs
                fn #rust_name(
                    &self,
                    request: rgrpc::Request<rgrpc::Streaming<#input>>,
                ) -> impl rgrpc::Future<Output = Result<rgrpc::Response<#output>, rgrpc::Status>> + Send;
            },
            (true, true) => quote! {
                #docs
                fn #rust_name(
                    &self,
                    request: rgrpc::Request<rgrpc::Streaming<#input>>,
                    responses: rgrpc::ResponseSender<#output>,
                ) -> impl rgrpc::Future<Output = Result<(), rgrpc::Status>> + Send;
            },
        }
    });
    // Handlers are called through the trait path so a method named like an `Arc` method
    // (`clone`, say) cannot be mistaken for it.
    let arms = methods.iter().map(|m| {
        let Method {
            rust_name,
            descriptor,
            ..
        } = m;
        let proto_name = m.proto.name();
        let run = match (m.proto.client_streaming(), m.proto.server_streaming()) {
            (false, false) => quote! {
                call.unary(&#descriptor, move |request| async move {
                    <T as #trait_name>::#rust_name(&inner, request).await
                })
            },
            (false, true) => quote! {
                call.server_streaming(&#descriptor, move |request, responses| async move {
                    <T as #trait_name>::#rust_name(&inner, request, responses).await
                })
            },
            (true, false) => quote! {
                call.client_streaming(&#descriptor, move |request| async move {
                    <T as #trait_name>::#rust_name(&inner, request).await
                })
            },
            (true, true) => quote! {
                call.streaming(&#descriptor, move |request, responses| async move {
                    <T as #trait_name>::#rust_name(&inner, request, responses).await
                })
            },
        };
        quote! {
            #proto_name => {
                let inner = self.inner.clone();
                #run
            }
        }
    });
    let gap = separator(service_docs);
    quote! {
        #[doc = #trait_summary]
        #gap
        #service_docs
        pub trait #trait_name: Send + Sync + 'static {
            #(#signatures)*
        }

        #[doc = #server_summary]
        #[derive(Debug)]
        pub struct #server<T> {
            inner: rgrpc::Arc<T>,
        }

        impl<T: #trait_name> #server<T> {
            /// The fully-qualified service name calls are routed by.
            pub const SERVICE_NAME: &'static str = #full_name;

            /// Serves `inner`.
            pub fn new(inner: T) -> Self {
                Self::from_arc(rgrpc::Arc::new(inner))
            }

            /// Serves an implementation that is shared with other code.
            pub fn from_arc(inner: rgrpc::Arc<T>) -> Self {
                Self { inner }
            }
        }

        impl<T> Clone for #server<T> {
            fn clone(&self) -> Self {
                Self { inner: self.inner.clone() }
            }
        }

        impl<T: #trait_name> rgrpc::Service for #server<T> {
            fn name(&self) -> &'static str {
                #full_name
            }

            fn call(&self, method: &str, call: rgrpc::ServerCall) -> rgrpc::ServerFuture {
                match method {
                    #(#arms)*
                    _ => call.unimplemented(#full_name, method),
                }
            }

            fn has_method(&self, method: &str) -> bool {
                #has_method
            }

            #file_descriptors
        }
    }
}
