//! Logs for people and for the journal: `tracing` to stderr, as text or JSON.
//!
//! Under systemd (stderr is the journal stream named by `JOURNAL_STREAM`) text
//! logs leave out the timestamp, since the journal adds its own.

use std::os::unix::fs::MetadataExt;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. `filter` is a level (`info`) or a tracing
/// filter (`groupsync=debug,reqwest=warn`).
pub fn init(format: LogFormat, filter: &str) -> Result<(), String> {
    let filter = EnvFilter::try_new(filter)
        .map_err(|err| format!("invalid log level or filter {filter:?}: {err}"))?;
    let builder = tracing_subscriber::fmt()
        .with_ansi(stderr_wants_color())
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let result = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text if stderr_is_journal() => builder.without_time().try_init(),
        LogFormat::Text => builder.try_init(),
    };
    result.map_err(|err| format!("cannot install the logger: {err}"))
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
