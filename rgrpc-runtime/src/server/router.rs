//! Routing `/package.Service/Method` to the registered services.

use std::sync::Arc;

use super::{ServerCall, ServerFuture};

/// A service the server can route to. Generated `...Server<T>` adapters implement it.
pub trait Service: Send + Sync + 'static {
    /// The fully-qualified service name, e.g. `"helloworld.Greeter"`.
    fn name(&self) -> &'static str;

    /// Starts `method` on `call` and returns the call's work; unknown methods answer with
    /// [`ServerCall::unimplemented`].
    fn call(&self, method: &str, call: ServerCall) -> ServerFuture;

    /// Whether the service has `method` (the name after the service's, `SayHello`). Observers
    /// use it to keep unknown methods out of their labels; generated services answer from
    /// their method list, the default says yes.
    fn has_method(&self, method: &str) -> bool {
        let _ = method;
        true
    }

    /// The serialized `FileDescriptorProto`s of the file defining this service and of its
    /// imports, for server reflection ([`crate::ServerBuilder::add_reflection`]). Generated
    /// services return what the plugin embedded; the default is none.
    fn file_descriptors(&self) -> &'static [&'static [u8]] {
        &[]
    }

    /// The server's graceful shutdown has begun: it is about to stop accepting calls. The
    /// health service marks everything `NOT_SERVING` here. The default does nothing.
    fn shutting_down(&self) {}
}

/// Service name → service. A server has a handful of services, so a scan of a short list
/// beats hashing the name on every call (SipHash cost ~1,000 instructions per call here).
/// Cloning shares the list (interceptors that answer asynchronously route later).
#[derive(Default, Clone)]
pub(crate) struct Router {
    services: Arc<Vec<(&'static str, Arc<dyn Service>)>>,
}

impl Router {
    /// Registers `service`; `Err` with the name if one of that name is registered already
    /// (silently replacing it would drop the first service's methods).
    pub(crate) fn add(&mut self, service: Arc<dyn Service>) -> Result<(), &'static str> {
        let name = service.name();
        if self.services.iter().any(|(n, _)| *n == name) {
            return Err(name);
        }
        Arc::make_mut(&mut self.services).push((name, service));
        Ok(())
    }

    /// Every registered service, in registration order.
    #[cfg_attr(not(feature = "reflection"), allow(dead_code))]
    pub(crate) fn services(&self) -> impl Iterator<Item = &dyn Service> {
        self.services.iter().map(|(_, service)| &**service)
    }

    /// Tells every service that the server's graceful shutdown has begun.
    pub(crate) fn shutting_down(&self) {
        for (_, service) in self.services.iter() {
            service.shutting_down();
        }
    }

    /// Whether `path` names a method of a registered service.
    pub(crate) fn is_registered(&self, path: &str) -> bool {
        split_path(path)
            .and_then(|(service, method)| Some(self.get(service)?.has_method(method)))
            .unwrap_or(false)
    }

    fn get(&self, name: &str) -> Option<&Arc<dyn Service>> {
        self.services
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, service)| service)
    }

    pub(crate) fn route(&self, path: &str, call: ServerCall) -> ServerFuture {
        let Some((service, method)) = split_path(path) else {
            return call.reject(crate::Status::unimplemented(format!(
                "malformed method name: {path:?}"
            )));
        };
        match self.get(service) {
            Some(svc) => svc.call(method, call),
            None => call.reject(crate::Status::unimplemented(format!(
                "unknown service {service}"
            ))),
        }
    }
}

/// `/pkg.Service/Method` → (`pkg.Service`, `Method`).
fn split_path(path: &str) -> Option<(&str, &str)> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    if service.is_empty() || method.is_empty() || method.contains('/') {
        return None;
    }
    Some((service, method))
}

#[cfg(test)]
mod tests {
    use super::split_path;

    #[test]
    fn paths() {
        assert_eq!(split_path("/a.B/C"), Some(("a.B", "C")));
        assert_eq!(split_path("/B/C"), Some(("B", "C")));
        assert_eq!(split_path("a.B/C"), None);
        assert_eq!(split_path("/a.B"), None);
        assert_eq!(split_path("/a.B/"), None);
        assert_eq!(split_path("//C"), None);
        assert_eq!(split_path("/a/b/c"), None);
    }
}
