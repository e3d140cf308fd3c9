//! [`Error`]: what goes wrong setting up a channel, as opposed to the [`Status`] of a call.

use std::fmt;

use crate::Status;

/// Setting up a [`crate::Channel`] failed: the target or an option is invalid (a mistake in
/// the program or its configuration, not an RPC outcome), or the first connection failed.
///
/// Callers match on meaning with [`Error::is_invalid_target`], [`Error::is_invalid_option`]
/// and [`Error::is_connect`]; the connect failure's [`Status`] is [`Error::status`]. Converts
/// into a [`Status`] for code that only deals in statuses.
///
/// ```
/// use rgrpc_runtime::Channel;
///
/// let err = Channel::builder("unix://relative/path").connect_lazy().unwrap_err();
/// assert!(err.is_invalid_target());
/// ```
pub struct Error {
    kind: Kind,
    message: String,
}

enum Kind {
    InvalidTarget,
    InvalidOption,
    Connect(Status),
}

impl Error {
    pub(crate) fn invalid_target(target: &str, why: impl fmt::Display) -> Error {
        Error {
            kind: Kind::InvalidTarget,
            message: format!("invalid target {target:?}: {why}"),
        }
    }

    #[allow(dead_code)] // the first options that can be invalid arrive with TLS and channels
    pub(crate) fn invalid_option(message: impl Into<String>) -> Error {
        Error {
            kind: Kind::InvalidOption,
            message: message.into(),
        }
    }

    pub(crate) fn connect(status: Status) -> Error {
        Error {
            message: status.message().to_owned(),
            kind: Kind::Connect(status),
        }
    }

    /// The target could not be understood (a bad URI, an unsupported scheme, no host).
    pub fn is_invalid_target(&self) -> bool {
        matches!(self.kind, Kind::InvalidTarget)
    }

    /// An option has a value the channel cannot use.
    pub fn is_invalid_option(&self) -> bool {
        matches!(self.kind, Kind::InvalidOption)
    }

    /// Connecting failed; [`Error::status`] says how (usually `UNAVAILABLE`).
    pub fn is_connect(&self) -> bool {
        matches!(self.kind, Kind::Connect(_))
    }

    /// The status of a failed connect, if that is what this is.
    pub fn status(&self) -> Option<&Status> {
        match &self.kind {
            Kind::Connect(status) => Some(status),
            _ => None,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::InvalidTarget => "InvalidTarget",
            Kind::InvalidOption => "InvalidOption",
            Kind::Connect(_) => "Connect",
        };
        f.debug_struct("Error")
            .field("kind", &kind)
            .field("message", &self.message)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Connect(status) => Some(status),
            _ => None,
        }
    }
}

impl From<Error> for Status {
    /// A connect failure is its status; an invalid target or option is `INVALID_ARGUMENT`.
    fn from(error: Error) -> Status {
        match error.kind {
            Kind::Connect(status) => status,
            Kind::InvalidTarget | Kind::InvalidOption => Status::invalid_argument(error.message),
        }
    }
}
