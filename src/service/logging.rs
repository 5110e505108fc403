//! Logs for people and for the journal: `tracing` to stderr, as text or JSON.
//!
//! Under systemd (stderr is the journal stream named by `JOURNAL_STREAM`) text
//! logs leave out the timestamp, since the journal adds its own. In text logs
//! every field is escaped ([`EscapedFields`]): an ESC sequence cannot drive
//! the terminal, and a line break in a value (the list of a multi-line
//! error) starts an indented continuation line, which no reader takes for a
//! record of its own. (JSON logs escape by being JSON.)
//!
//! A log line that cannot be written (stderr closed, or a pipe nobody reads
//! any more) is dropped: logging never stops groupsync.

use std::fmt;
use std::os::unix::fs::MetadataExt;

use tracing::field::{Field, Visit};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

use crate::config::LogFormat;
use crate::text::escaped_indented;

/// What starts each continuation line of a multi-line value in text logs.
const CONTINUATION: &str = "  ";

/// Why the logger could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// `tracing` does not take the level or filter (the settings checked
    /// only its levels). The parser's error is part of the message, not a
    /// `source()`: its own message repeats its cause, so a chain would say it twice.
    #[error("invalid log level or filter {filter:?}: {cause}")]
    Filter {
        filter: String,
        cause: tracing_subscriber::filter::ParseError,
    },
    /// A global subscriber is installed already.
    #[error("cannot install the logger")]
    Install(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Installs the global subscriber. `filter` is a level (`info`) or a tracing
/// filter (`groupsync=debug,reqwest=warn`).
pub fn init(format: LogFormat, filter: &str) -> Result<(), LoggingError> {
    let filter = EnvFilter::try_new(filter).map_err(|cause| LoggingError::Filter {
        filter: filter.to_string(),
        cause,
    })?;
    let builder = tracing_subscriber::fmt()
        .with_ansi(stderr_wants_color())
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Its report of a failed write would go to the same stderr, and
        // panic there: a log line that cannot be written is dropped.
        .log_internal_errors(false)
        .with_target(false);
    let result = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text if stderr_is_journal() => {
            builder.fmt_fields(EscapedFields).without_time().try_init()
        }
        LogFormat::Text => builder.fmt_fields(EscapedFields).try_init(),
    };
    result.map_err(LoggingError::Install)
}

/// Colour only on a terminal, never with `NO_COLOR` set.
fn stderr_wants_color() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
        && std::io::stderr().is_terminal()
}

/// True when stderr is the journal stream systemd connected us to.
///
/// `JOURNAL_STREAM` is `DEVICE:INODE` of that stream; comparing it with
/// stderr's own tells a service apart from a child that merely inherited the
/// variable while its stderr was redirected elsewhere.
fn stderr_is_journal() -> bool {
    let Ok(stream) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((device, inode)) = stream.split_once(':') else {
        return false;
    };
    let Ok(metadata) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    device.parse() == Ok(metadata.dev()) && inode.parse() == Ok(metadata.ino())
}

/// Formats an event's fields as the default text format does (the message,
/// then `name=value` pairs), with every value escaped, and each line after
/// the first of a value indented (`CONTINUATION`).
pub struct EscapedFields;

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = EscapingVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct EscapingVisitor<'writer> {
    writer: Writer<'writer>,
    first: bool,
    result: fmt::Result,
}

impl EscapingVisitor<'_> {
    fn write(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        let separator = if self.first { "" } else { " " };
        self.first = false;
        let value = escaped_indented(value, CONTINUATION);
        self.result = match field.name() {
            "message" => write!(self.writer, "{separator}{value}"),
            name => write!(self.writer, "{separator}{name}={value}"),
        };
    }
}

impl Visit for EscapingVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.write(field, value);
        } else {
            self.write(field, &format!("{value:?}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write(field, &format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_break_or_escape_in_a_field_cannot_forge_a_log_line() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .fmt_fields(EscapedFields)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let forged = "bad\nINFO cycle done in_sync=1 failed=0";
            tracing::warn!(group = %"\u{1b}[2Jx", "update failed: {forged}");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with(" WARN update failed: bad"), "{text}");
        assert!(
            lines[1].starts_with("  INFO cycle done") && lines[1].contains("group=\\u{1b}[2Jx"),
            "{text}"
        );
    }
}
