//! The library's one error type, and `Diagnostic`, an error tied to a place in a file.
//! The pod layer's errors (`pod.rs`), the configuration's (`config.rs`), the
//! state file's (`state.rs`) and the metrics listener's (`listen.rs`) live here too, so that [`Error`] can carry them from the ground floor.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::model::GroupCounts;

mod approval;
mod config;
mod journal;
mod listen;
mod plan_file;
mod pod;
mod state;
pub use approval::ApprovalError;
pub use config::{
    BdkError, BdkProblem, ConfigError, FileError, JournalPlacement, RuleError, ValueError,
    format_size,
};
pub use journal::{JOURNAL_MAX_LINE, JournalError};
pub use listen::ListenError;
pub use plan_file::PlanFileError;
pub use pod::{AuthError, PodError, TransportKind};
pub use state::{FormatError, STATE_FORMAT_VERSION, StateProblem};

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
/// the file or the thing at fault and says what to do; the lower-level cause,
/// where there is one, is the variant's `source()`, so `{err:#}` (anyhow) and
/// [`Error::chain`] print the whole chain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The desired state (`groups.d/`) is invalid; every problem found is listed.
    #[error("{0}")]
    Invalid(Diagnostics),

    /// The configuration (file, flags or environment) is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// The credentials the configuration names cannot be used.
    #[error(transparent)]
    Auth(#[from] AuthError),

    /// A pod URL is set but no credentials are.
    #[error(
        "the pod URL {pod_url} is set but no credentials are: set GROUPSYNC_SESSION_TOKEN, \
         auth.session_token_file, or auth.bot_username + auth.private_key_file"
    )]
    NoCredentials { pod_url: String },

    /// Writing was asked for, but no pod is configured.
    #[error("applying needs the pod: set --pod-url / GROUPSYNC_POD_URL / pod.url, and credentials")]
    NoPod,

    /// A call to the pod failed (after the retries it deserved), or the
    /// client could not be set up.
    #[error(transparent)]
    Pod(#[from] PodError),

    /// The state file cannot be read, parsed or written. It is left as it was.
    // The problem is in the message, not a `source`: printed as a chain, it would show twice.
    #[error("state file {}: {problem}", path.display())]
    State {
        path: PathBuf,
        problem: StateProblem,
    },

    /// Another process holds the state file's lock (still, after `waited`).
    #[error(
        "state file {path} is locked by another groupsync{holder}{}; stop that process or point --state at another file",
        waited.map(|waited| format!(", still after waiting {waited:?} (--lock-timeout)")).unwrap_or_default()
    )]
    StateLocked {
        path: PathBuf,
        holder: String,
        waited: Option<std::time::Duration>,
    },

    /// The state file describes another pod than the one configured.
    #[error(
        "state file {path} holds the snapshot of the pod {recorded}, but this run talks to {configured}; \
         point --state / state_file at a state file of its own for this pod, or move {path} aside to start afresh"
    )]
    StateOfAnotherPod {
        path: PathBuf,
        recorded: String,
        configured: String,
    },

    /// A safety limit refused the cycle; nothing was written. With a digest,
    /// the plan is held: `groupsync approve DIGEST` lets exactly it through.
    #[error("{refusal}{}", approve_hint(.digest.as_deref()))]
    Refused {
        refusal: Refusal,
        /// Where the declared groups stand: the refused plan's changes are pending.
        groups: GroupCounts,
        /// The refused plan's digest: what `groupsync approve` names.
        digest: Option<String>,
    },

    /// The journal cannot be opened or written: no write goes unrecorded,
    /// so the cycle writes nothing more.
    #[error(transparent)]
    Journal(#[from] JournalError),

    /// A saved plan cannot be shown or applied; nothing was written.
    #[error(transparent)]
    PlanFile(#[from] PlanFileError),

    /// `groupsync approve` recorded nothing.
    #[error(transparent)]
    Approval(#[from] ApprovalError),

    /// The cycle ran longer than `cycle_timeout` and was abandoned.
    #[error(
        "the cycle was abandoned after running for longer than cycle_timeout ({}); \
         the answers saved so far are kept. Find out why the pod is this slow, or raise cycle_timeout",
        short_duration(*.0)
    )]
    CycleTimeout(Duration),

    /// The daemon's HTTP endpoints cannot be served at `metrics_listen`.
    #[error(transparent)]
    Listen(#[from] ListenError),

    /// An operating-system call failed; `doing` says what groupsync was doing
    /// (e.g. "cannot write groups.d/emea.yaml").
    #[error("{doing}")]
    Io {
        doing: String,
        #[source]
        source: std::io::Error,
    },
}

/// `; or approve exactly this plan: groupsync approve <digest>` for a held plan.
fn approve_hint(digest: Option<&str>) -> String {
    digest.map_or(String::new(), |digest| {
        format!("; or approve exactly this plan: `groupsync approve {digest}`")
    })
}

impl Error {
    /// An [`Error::Io`] saying what was being done when `source` happened.
    pub fn io(doing: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            doing: doing.into(),
            source,
        }
    }

    /// Every name [`Error::kind`] gives, so that `groupsync_cycle_failures_total`
    /// shows each at 0 from the start.
    pub const KINDS: [&'static str; 12] = [
        "invalid_input",
        "config",
        "auth",
        "pod",
        "state",
        "state_locked",
        "refused",
        "journal",
        "plan_file",
        "approval",
        "timeout",
        "io",
    ];

    /// A short, stable name for the kind of error: the `kind` label of
    /// `groupsync_cycle_failures_total`; one of [`Error::KINDS`].
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Invalid(_) => "invalid_input",
            Error::Config(_) => "config",
            Error::Auth(_) | Error::NoCredentials { .. } => "auth",
            Error::NoPod => "config",
            Error::Pod(_) => "pod",
            Error::State { .. } => "state",
            Error::StateLocked { .. } => "state_locked",
            Error::StateOfAnotherPod { .. } => "state",
            Error::Refused { .. } => "refused",
            Error::Journal(_) => "journal",
            Error::PlanFile(_) => "plan_file",
            Error::Approval(_) => "approval",
            Error::CycleTimeout(_) => "timeout",
            Error::Io { .. } | Error::Listen(_) => "io",
        }
    }

    /// The message and every cause below it, joined by `: ` (what `{err:#}`
    /// prints for an `anyhow::Error`), for logs and status lines.
    pub fn chain(&self) -> String {
        with_causes(self.to_string(), std::error::Error::source(self))
    }
}

/// `text`, then each cause in turn after `: `. A cause whose message `text`
/// already ends with (a `transparent` variant's, say) is not printed twice.
pub fn with_causes(
    mut text: String,
    mut source: Option<&(dyn std::error::Error + 'static)>,
) -> String {
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// `500ms`, `30s`, `10m`, `1h30m`: a duration as the config file writes it.
pub fn short_duration(duration: Duration) -> String {
    if duration.subsec_millis() != 0 {
        return format!("{}ms", duration.as_millis());
    }
    let seconds = duration.as_secs();
    let parts = [
        (seconds / 3600, "h"),
        (seconds / 60 % 60, "m"),
        (seconds % 60, "s"),
    ];
    let text: String = parts
        .iter()
        .filter(|(count, _)| *count > 0)
        .map(|(count, unit)| format!("{count}{unit}"))
        .collect();
    if text.is_empty() {
        "0s".to_string()
    } else {
        text
    }
}

/// Which safety limit a plan exceeded, by how much, and the message that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The limit's config key, e.g. `limits.max_changes`.
    pub limit: &'static str,
    /// What the plan counts.
    pub count: usize,
    /// The configured value it exceeds.
    pub max: usize,
    /// The refusal as the limits table words it.
    pub message: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_io_error_shows_what_was_being_done_and_why() {
        let error = Error::io(
            "metrics_listen 127.0.0.1:9464: cannot listen",
            std::io::Error::new(std::io::ErrorKind::AddrInUse, "address in use"),
        );
        assert_eq!(
            error.chain(),
            "metrics_listen 127.0.0.1:9464: cannot listen: address in use"
        );
        assert!(std::error::Error::source(&error).is_some());
        assert_eq!(error.kind(), "io");
    }

    #[test]
    fn a_listen_error_names_the_setting_and_its_cause() {
        let error = Error::from(ListenError::Bind {
            address: "127.0.0.1:9464".parse().unwrap(),
            source: std::io::Error::new(std::io::ErrorKind::AddrInUse, "address in use"),
        });
        assert_eq!(
            error.chain(),
            "metrics_listen 127.0.0.1:9464: cannot listen: address in use"
        );
        assert_eq!(error.kind(), "io");
        assert_eq!(
            format!("{:#}", anyhow::Error::from(error)),
            "metrics_listen 127.0.0.1:9464: cannot listen: address in use"
        );
    }

    #[test]
    fn a_transparent_variant_is_not_printed_twice() {
        let error = Error::from(PodError::Setup("no TLS backend".to_string()));
        assert_eq!(error.chain(), "no TLS backend");
        assert_eq!(error.kind(), "pod");
    }

    #[test]
    fn a_cycle_timeout_names_the_setting_and_its_value() {
        let error = Error::CycleTimeout(Duration::from_secs(90));
        assert!(
            error.to_string().starts_with(
                "the cycle was abandoned after running for longer than cycle_timeout (1m30s)"
            ),
            "{error}"
        );
        assert_eq!(error.kind(), "timeout");
    }

    #[test]
    fn short_durations_read_as_the_config_file_writes_them() {
        let text = |millis| short_duration(Duration::from_millis(millis));
        assert_eq!(text(500), "500ms");
        assert_eq!(text(1_500), "1500ms");
        assert_eq!(text(30_000), "30s");
        assert_eq!(text(600_000), "10m");
        assert_eq!(text(5_430_000), "1h30m30s");
        assert_eq!(text(0), "0s");
    }
}
