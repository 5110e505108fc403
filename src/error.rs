//! The library's one error type, and `Diagnostic`, an error tied to a place in a file.

use std::fmt;
use std::path::PathBuf;

/// One problem found in an input file, printed as `PATH:LINE:COLUMN: message`
/// (or `PATH: message` when there is no position, e.g. an unreadable file).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    pub path: PathBuf,
    /// 1-based line and column, when the problem has a position.
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl Diagnostic {
    pub fn at(
        path: impl Into<PathBuf>,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            path: path.into(),
            position: Some((line, column)),
            message: message.into(),
        }
    }

    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Diagnostic {
            path: path.into(),
            position: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => write!(
                f,
                "{}:{line}:{column}: {}",
                self.path.display(),
                self.message
            ),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// A list of diagnostics, displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, diagnostic) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong in the library. Each variant's message names
/// the file or the thing at fault and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The desired state (`groups.d/`) is invalid; every problem found is listed.
    #[error("{0}")]
    Invalid(Diagnostics),

    /// The configuration (file, flags or environment) is invalid.
    #[error("{0}")]
    Config(String),

    /// The state file cannot be read, parsed or written. It is left as it was.
    #[error("state file {path}: {reason}")]
    State { path: PathBuf, reason: String },

    /// A call to the pod failed (after the retries it deserved).
    #[error("{0}")]
    Pod(crate::pod::PodError),

    /// A safety limit refused the cycle; nothing was written.
    #[error("{0}")]
    Refused(String),

    /// Another process holds the state file's lock.
    #[error(
        "state file {path} is locked by another groupsync{holder}; stop that process or point --state at another file"
    )]
    StateLocked { path: PathBuf, holder: String },
}

impl Error {
    /// A short, stable name for the kind of error (for logs and metric labels).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Invalid(_) => "invalid_input",
            Error::Config(_) => "config",
            Error::State { .. } => "state",
            Error::StateLocked { .. } => "state_locked",
            Error::Pod(_) => "pod",
            Error::Refused(_) => "refused",
        }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
