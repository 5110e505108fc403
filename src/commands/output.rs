//! What the commands write to stdout and stderr, where more than one writes
//! it the same way: a closed stdout is not an error, diagnostics go one per
//! line, and with `--format json` or `markdown` a failure is a document too.

use std::io::Write;

use anyhow::Context;

use crate::Diagnostic;
use crate::cli::usage::Usage;
use crate::pipeline::render::{self, JsonDocument, markdown};
use crate::text::counted;
use crate::text::escaped;

/// Writes to stdout; a closed pipe (`groupsync plan | head`) is not an error.
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

/// One diagnostic per line on stderr, then the count.
pub fn print_diagnostics(diagnostics: &[Diagnostic]) {
    let mut text = String::new();
    for diagnostic in diagnostics {
        text.push_str(&escaped(&diagnostic.to_string()));
        text.push('\n');
    }
    text.push_str(&format!(
        "{}; nothing was planned or written\n",
        counted(diagnostics.len(), "error")
    ));
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// The document a command prints on stdout with `--format json` or
/// `--format markdown`: it prints one for its failure too.
#[derive(Debug, Clone, Copy)]
pub enum FailureDocument {
    /// Its JSON object, empty, with the error in `errors`.
    Json(JsonDocument),
    /// A summary saying the run failed, and the error under `### Errors`.
    Markdown,
}

/// `--format json` or `markdown`: stdout holds one document, a failure
/// included, so that a script or a CI job posting it never gets nothing
/// (or an empty pull-request comment); the `error: ...` line on stderr
/// stays, for people.
pub fn print_failure(document: FailureDocument, err: &anyhow::Error) {
    if err.downcast_ref::<Usage>().is_some() {
        return;
    }
    let message = format!("{err:#}");
    let text = match document {
        FailureDocument::Json(document) => render::render_failure_json(document, &message),
        FailureDocument::Markdown => markdown::render_failure_markdown(&message),
    };
    // A closed stdout leaves only stderr to tell: `exit_code` does that next.
    let _ = print_stdout(&text);
}
