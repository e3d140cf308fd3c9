//! The descriptors reflection answers from: serialized `FileDescriptorProto`s indexed by file
//! name, by every symbol they define, and by extension.
//!
//! The bytes come from generated code (the plugin embeds them) or from the caller; they are
//! parsed once, here, with the descriptor messages only (no message library's reflection),
//! and handed out as they came in.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;

use bytes::Bytes;
use protobuf::descriptor::{DescriptorProto, EnumDescriptorProto, FileDescriptorProto};
use protobuf::Message;

/// Registered descriptors, indexed for the four reflection queries.
#[derive(Default)]
pub(crate) struct Pool {
    files: Vec<File>,
    by_name: HashMap<String, usize>,
    /// Fully-qualified symbol (no leading dot) → file.
    symbols: HashMap<String, usize>,
    /// (extendee, field number) → file defining the extension.
    extensions: HashMap<(String, i32), usize>,
    /// Every service the files define: what `list_services` reports when not told.
    services: BTreeSet<String>,
}

struct File {
    bytes: Bytes,
    dependencies: Vec<String>,
}

/// Registered bytes that are not a `FileDescriptorProto`.
#[derive(Debug)]
pub struct InvalidDescriptor(String);

impl fmt::Display for InvalidDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidDescriptor {}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("files", &self.by_name.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// Adds one serialized `FileDescriptorProto`. A file name seen before keeps the copy
    /// that carries source info (comments), which is the one generated for the file itself;
    /// copies embedded as someone's import have none.
    pub(crate) fn add(&mut self, bytes: Bytes) -> Result<(), InvalidDescriptor> {
        let file = FileDescriptorProto::parse_from_tokio_bytes(&bytes)
            .map_err(|e| InvalidDescriptor(format!("not a FileDescriptorProto: {e}")))?;
        if file.name().is_empty() {
            return Err(InvalidDescriptor(
                "a FileDescriptorProto without a name".into(),
            ));
        }
        if let Some(&index) = self.by_name.get(file.name()) {
            let have_info = FileDescriptorProto::parse_from_tokio_bytes(&self.files[index].bytes)
                .map(|f| f.source_code_info.is_some())
                .unwrap_or(false);
            if !have_info && file.source_code_info.is_some() {
                self.files[index].bytes = bytes;
            }
            return Ok(());
        }
        let index = self.files.len();
        self.files.push(File {
            bytes,
            dependencies: file.dependency.clone(),
        });
        self.by_name.insert(file.name().to_owned(), index);
        self.index_symbols(&file, index);
        Ok(())
    }

    /// Adds every file of a serialized `FileDescriptorSet` (`protoc --descriptor_set_out`).
    pub(crate) fn add_set(&mut self, bytes: &[u8]) -> Result<(), InvalidDescriptor> {
        let set = protobuf::descriptor::FileDescriptorSet::parse_from_bytes(bytes)
            .map_err(|e| InvalidDescriptor(format!("not a FileDescriptorSet: {e}")))?;
        for file in set.file {
            let bytes = file
                .write_to_bytes()
                .map_err(|e| InvalidDescriptor(e.to_string()))?;
            self.add(Bytes::from(bytes))?;
        }
        Ok(())
    }

    fn index_symbols(&mut self, file: &FileDescriptorProto, index: usize) {
        let scope = file.package().to_owned();
        let mut names = Vec::new();
        for message in &file.message_type {
            message_symbols(&scope, message, &mut names, &mut self.extensions, index);
        }
        for e in &file.enum_type {
            enum_symbols(&scope, e, &mut names);
        }
        for service in &file.service {
            let name = join(&scope, service.name());
            for method in &service.method {
                names.push(join(&name, method.name()));
            }
            self.services.insert(name.clone());
            names.push(name);
        }
        for extension in &file.extension {
            names.push(join(&scope, extension.name()));
            let extendee = extension.extendee().trim_start_matches('.').to_owned();
            self.extensions
                .insert((extendee, extension.number()), index);
        }
        for name in names {
            // The first definition wins; a well-formed set has no duplicates.
            self.symbols.entry(name).or_insert(index);
        }
    }

    /// The file named `name`, if registered.
    pub(crate) fn file_by_name(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// The file that defines `symbol` (a message, field, enum, enum value, service, method or
    /// extension; a leading dot is allowed).
    pub(crate) fn file_containing_symbol(&self, symbol: &str) -> Option<usize> {
        self.symbols.get(symbol.trim_start_matches('.')).copied()
    }

    /// The file that defines extension `number` of `extendee`.
    pub(crate) fn file_containing_extension(&self, extendee: &str, number: i32) -> Option<usize> {
        self.extensions
            .get(&(extendee.trim_start_matches('.').to_owned(), number))
            .copied()
    }

    /// The extension numbers of `extendee` known here, ascending; `None` if `extendee` is not
    /// a known message.
    pub(crate) fn extension_numbers(&self, extendee: &str) -> Option<Vec<i32>> {
        let extendee = extendee.trim_start_matches('.');
        self.symbols.get(extendee)?;
        let mut numbers: Vec<i32> = self
            .extensions
            .keys()
            .filter(|(t, _)| t == extendee)
            .map(|(_, n)| *n)
            .collect();
        numbers.sort_unstable();
        Some(numbers)
    }

    /// Every service the registered files define.
    pub(crate) fn services(&self) -> impl Iterator<Item = &str> {
        self.services.iter().map(String::as_str)
    }

    /// `file` and its transitive dependencies, leaving out what `sent` already holds and
    /// adding what it returns to `sent`. The file itself always comes first, even if sent
    /// before (it is what was asked for); a dependency missing from the pool is skipped.
    pub(crate) fn with_dependencies(&self, file: usize, sent: &mut HashSet<usize>) -> Vec<Bytes> {
        let mut out = vec![self.files[file].bytes.clone()];
        sent.insert(file);
        let mut stack: Vec<&str> = self.files[file]
            .dependencies
            .iter()
            .rev()
            .map(String::as_str)
            .collect();
        while let Some(name) = stack.pop() {
            let Some(index) = self.file_by_name(name) else {
                continue;
            };
            if !sent.insert(index) {
                continue;
            }
            out.push(self.files[index].bytes.clone());
            stack.extend(
                self.files[index]
                    .dependencies
                    .iter()
                    .rev()
                    .map(String::as_str),
            );
        }
        out
    }
}

fn join(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_owned()
    } else {
        format!("{scope}.{name}")
    }
}

fn message_symbols(
    scope: &str,
    message: &DescriptorProto,
    names: &mut Vec<String>,
    extensions: &mut HashMap<(String, i32), usize>,
    index: usize,
) {
    let name = join(scope, message.name());
    for field in &message.field {
        names.push(join(&name, field.name()));
    }
    for oneof in &message.oneof_decl {
        names.push(join(&name, oneof.name()));
    }
    for nested in &message.nested_type {
        message_symbols(&name, nested, names, extensions, index);
    }
    for e in &message.enum_type {
        enum_symbols(&name, e, names);
    }
    for extension in &message.extension {
        names.push(join(&name, extension.name()));
        let extendee = extension.extendee().trim_start_matches('.').to_owned();
        extensions.insert((extendee, extension.number()), index);
    }
    names.push(name);
}

/// An enum and its values; values are scoped beside the enum, not inside it (C++ scoping,
/// as protoc resolves them).
fn enum_symbols(scope: &str, e: &EnumDescriptorProto, names: &mut Vec<String>) {
    names.push(join(scope, e.name()));
    for value in &e.value {
        names.push(join(scope, value.name()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protobuf::descriptor::{
        field_descriptor_proto, EnumValueDescriptorProto, FieldDescriptorProto,
        MethodDescriptorProto, ServiceDescriptorProto,
    };

    fn file(name: &str, package: &str, deps: &[&str]) -> FileDescriptorProto {
        let mut f = FileDescriptorProto::new();
        f.set_name(name.into());
        f.set_package(package.into());
        f.dependency = deps.iter().map(|d| d.to_string()).collect();
        f
    }

    fn bytes(f: &FileDescriptorProto) -> Bytes {
        Bytes::from(f.write_to_bytes().unwrap())
    }

    fn pool() -> Pool {
        let base = file("base.proto", "p", &[]);
        let mut msgs = file("msgs.proto", "p", &["base.proto"]);
        let mut m = DescriptorProto::new();
        m.set_name("M".into());
        let mut field = FieldDescriptorProto::new();
        field.set_name("f".into());
        m.field.push(field);
        let mut inner = DescriptorProto::new();
        inner.set_name("Inner".into());
        m.nested_type.push(inner);
        let mut e = EnumDescriptorProto::new();
        e.set_name("Color".into());
        let mut v = EnumValueDescriptorProto::new();
        v.set_name("RED".into());
        e.value.push(v);
        m.enum_type.push(e);
        msgs.message_type.push(m);
        let mut svc_file = file("svc.proto", "p", &["msgs.proto", "ext.proto"]);
        let mut svc = ServiceDescriptorProto::new();
        svc.set_name("S".into());
        let mut method = MethodDescriptorProto::new();
        method.set_name("Do".into());
        svc.method.push(method);
        svc_file.service.push(svc);
        let mut ext_file = file("ext.proto", "q", &["msgs.proto"]);
        let mut ext = FieldDescriptorProto::new();
        ext.set_name("extra".into());
        ext.set_extendee(".p.M".into());
        ext.set_number(100);
        ext.set_type(field_descriptor_proto::Type::TYPE_INT32);
        ext_file.extension.push(ext);
        let mut pool = Pool::default();
        for f in [&base, &msgs, &svc_file, &ext_file] {
            pool.add(bytes(f)).unwrap();
        }
        pool
    }

    #[test]
    fn symbols() {
        let pool = pool();
        let msgs = pool.file_by_name("msgs.proto");
        assert!(msgs.is_some());
        for symbol in ["p.M", ".p.M", "p.M.f", "p.M.Inner", "p.M.Color", "p.M.RED"] {
            assert_eq!(pool.file_containing_symbol(symbol), msgs, "{symbol}");
        }
        let svc = pool.file_by_name("svc.proto");
        assert_eq!(pool.file_containing_symbol("p.S"), svc);
        assert_eq!(pool.file_containing_symbol("p.S.Do"), svc);
        assert_eq!(
            pool.file_containing_symbol("q.extra"),
            pool.file_by_name("ext.proto")
        );
        assert_eq!(pool.file_containing_symbol("p.Nope"), None);
        assert_eq!(pool.file_containing_symbol("p.M.Color.RED"), None);
        assert_eq!(pool.services().collect::<Vec<_>>(), ["p.S"]);
    }

    #[test]
    fn extensions() {
        let pool = pool();
        assert_eq!(
            pool.file_containing_extension("p.M", 100),
            pool.file_by_name("ext.proto")
        );
        assert_eq!(pool.file_containing_extension("p.M", 101), None);
        assert_eq!(pool.extension_numbers(".p.M"), Some(vec![100]));
        assert_eq!(pool.extension_numbers("p.M.Inner"), Some(vec![]));
        assert_eq!(pool.extension_numbers("p.Nope"), None);
    }

    #[test]
    fn dependencies_are_sent_once_per_stream() {
        let pool = pool();
        let names = |files: Vec<Bytes>| -> Vec<String> {
            files
                .iter()
                .map(|b| {
                    FileDescriptorProto::parse_from_bytes(b)
                        .unwrap()
                        .name()
                        .to_owned()
                })
                .collect()
        };
        let mut sent = HashSet::new();
        let svc = pool.file_by_name("svc.proto").unwrap();
        assert_eq!(
            names(pool.with_dependencies(svc, &mut sent)),
            ["svc.proto", "msgs.proto", "base.proto", "ext.proto"]
        );
        let ext = pool.file_by_name("ext.proto").unwrap();
        assert_eq!(names(pool.with_dependencies(ext, &mut sent)), ["ext.proto"]);
        let mut fresh = HashSet::new();
        assert_eq!(
            names(pool.with_dependencies(ext, &mut fresh)),
            ["ext.proto", "msgs.proto", "base.proto"]
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut pool = Pool::default();
        assert!(pool.add(Bytes::from_static(b"\xff\xff\xff")).is_err());
        assert!(pool.add(Bytes::new()).is_err());
        assert!(pool.add_set(b"\x0a\x05\xff").is_err());
    }
}
