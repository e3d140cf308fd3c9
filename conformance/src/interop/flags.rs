//! Command-line flags as every gRPC implementation's interop programs take them:
//! `--name=value` or `--name value`; a flag with no value (`--use_tls`) means `true`.
//!
//! Interop runners drive many implementations with one command line, so the names are the
//! spec's (`--server_port`, `--test_case`, …) and unknown names are refused rather than
//! ignored: a misspelt flag would otherwise silently run with a default.

use std::fmt;
use std::str::FromStr;

/// The flags given on a command line, in order.
#[derive(Debug, Default, Clone)]
pub struct Flags {
    values: Vec<(String, String)>,
}

/// Why a command line was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlagError {
    /// `--help` or `-h` was given.
    Help,
    /// A flag was unknown, malformed, or had a value of the wrong type.
    Invalid(String),
}

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagError::Help => f.write_str("help requested"),
            FlagError::Invalid(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for FlagError {}

impl Flags {
    /// Parses `args` (without the program name), accepting only the flag names in `known`.
    pub fn parse<I>(args: I, known: &[&str]) -> Result<Flags, FlagError>
    where
        I: IntoIterator<Item = String>,
    {
        let mut values = Vec::new();
        let mut args = args.into_iter().peekable();
        while let Some(arg) = args.next() {
            if arg == "--help" || arg == "-h" {
                return Err(FlagError::Help);
            }
            let Some(flag) = arg.strip_prefix("--") else {
                return Err(FlagError::Invalid(format!(
                    "unexpected argument {arg:?}: flags are --name=value or --name value"
                )));
            };
            let (name, value) = match flag.split_once('=') {
                Some((name, value)) => (name.to_owned(), value.to_owned()),
                None => {
                    let value = match args.peek() {
                        Some(next) if !next.starts_with("--") => args.next(),
                        _ => None,
                    };
                    (flag.to_owned(), value.unwrap_or_else(|| "true".to_owned()))
                }
            };
            if !known.contains(&name.as_str()) {
                return Err(FlagError::Invalid(format!(
                    "unknown flag --{name} (known: {})",
                    known
                        .iter()
                        .map(|k| format!("--{k}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            values.push((name, value));
        }
        Ok(Flags { values })
    }

    /// The last value given for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name` parsed as `T`, or `default` when the flag is absent.
    pub fn parse_or<T>(&self, name: &str, default: T) -> Result<T, FlagError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(value) => value
                .parse()
                .map_err(|e| FlagError::Invalid(format!("--{name}={value}: {e}"))),
        }
    }

    /// The value of `name` as a boolean (`true`/`false`/`1`/`0`), or `default` when absent.
    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool, FlagError> {
        match self.get(name) {
            None => Ok(default),
            Some(value) => match value.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(FlagError::Invalid(format!(
                    "--{name}={value}: expected true or false"
                ))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Flags, FlagError> {
        Flags::parse(
            args.iter().map(|s| s.to_string()),
            &["port", "use_tls", "test_case"],
        )
    }

    #[test]
    fn both_forms_and_bare_booleans() {
        let flags = parse(&["--port=8080", "--test_case", "ping_pong", "--use_tls"]).unwrap();
        assert_eq!(flags.parse_or("port", 0u16).unwrap(), 8080);
        assert_eq!(flags.get("test_case"), Some("ping_pong"));
        assert!(flags.bool_or("use_tls", false).unwrap());
    }

    #[test]
    fn last_value_wins_and_defaults_apply() {
        let flags = parse(&["--port=1", "--port", "2", "--use_tls=False"]).unwrap();
        assert_eq!(flags.parse_or("port", 0u16).unwrap(), 2);
        assert!(!flags.bool_or("use_tls", true).unwrap());
        assert_eq!(flags.get("test_case"), None);
        assert_eq!(parse(&[]).unwrap().parse_or("port", 7u16).unwrap(), 7);
    }

    #[test]
    fn refusals() {
        assert!(matches!(parse(&["--prot=1"]), Err(FlagError::Invalid(m)) if m.contains("--prot")));
        assert!(matches!(parse(&["port=1"]), Err(FlagError::Invalid(_))));
        assert_eq!(parse(&["--help"]).unwrap_err(), FlagError::Help);
        let flags = parse(&["--port=x", "--use_tls=maybe"]).unwrap();
        assert!(flags.parse_or("port", 0u16).is_err());
        assert!(flags.bool_or("use_tls", false).is_err());
    }
}
