//! `groupsync journal verify` and `groupsync history`: the journal
//! (`journal_file`) read back, checked or listed, in text or JSON. Neither
//! takes a lock: both only read, and a writer only ever appends or rotates.

use serde_json::json;

use crate::cli::args::{HistoryArgs, OutputFormat};
use crate::commands::outcome::Outcome;
use crate::commands::output::print_stdout;
use crate::config::Settings;
use crate::error::short_duration;
use crate::store::journal::{self, HISTORY_CAP, JournalError, JournalRecord};
use crate::text::{counted, escaped};

/// `groupsync journal verify`: the chain intact (exit 0, warnings on
/// stderr), or the first altered line named, `FILE:LINE: what` (exit 1).
pub fn verify(settings: &Settings, format: OutputFormat) -> anyhow::Result<Outcome> {
    refuse_markdown(format, "journal verify")?;
    let path = &settings.journal_file;
    let report = match journal::verify(path) {
        Ok(report) => report,
        Err(missing @ JournalError::NotFound { .. }) if format == OutputFormat::Json => {
            let message = missing.to_string();
            let document = json!({
                "journal": path,
                "intact": false,
                "records": 0,
                "files": [],
                "problem": {"file": path, "kind": "missing", "message": message},
                "warnings": [],
            });
            print_stdout(&format!("{document:#}\n"))?;
            eprintln!("error: {}", escaped(&message));
            return Ok(Outcome::Failed);
        }
        Err(error) => return Err(error.into()),
    };
    let mut stderr = String::new();
    for warning in &report.warnings {
        stderr.push_str(&format!("warning: {}\n", escaped(&warning.to_string())));
    }
    if let Some(problem) = &report.problem {
        stderr.push_str(&format!("{}\n", escaped(&problem.to_string())));
    }
    match format {
        OutputFormat::Json => {
            let document = json!({
                "journal": path,
                "intact": report.is_intact(),
                "records": report.records,
                "files": report.files,
                "problem": report.problem,
                "warnings": report.warnings,
            });
            print_stdout(&format!("{document:#}\n"))?;
        }
        _ if report.is_intact() => print_stdout(&format!(
            "{}: {} in {}; the chain is intact\n",
            escaped(&path.display().to_string()),
            counted(report.records as usize, "record"),
            counted(report.files.len(), "file"),
        ))?,
        _ => {}
    }
    eprint!("{stderr}");
    Ok(match report.is_intact() {
        true => Outcome::Clean,
        false => Outcome::Failed,
    })
}

/// `groupsync history [GROUP_ID] [--since DURATION]`: the records, oldest
/// first, one line each (text) or as a JSON array. None is no error.
pub fn history(
    settings: &Settings,
    args: &HistoryArgs,
    format: OutputFormat,
) -> anyhow::Result<Outcome> {
    refuse_markdown(format, "history")?;
    let found = journal::history(&settings.journal_file, args.group.as_deref(), args.since)?;
    match format {
        OutputFormat::Json => {
            print_stdout(&format!("{:#}\n", serde_json::to_value(&found.records)?))?;
        }
        _ => {
            let text: String = found.records.iter().map(history_line).collect();
            print_stdout(&text)?;
        }
    }
    let mut notes = String::new();
    if found.records.is_empty() {
        let group = args
            .group
            .as_deref()
            .map(|group| format!(" of group {group}"));
        let since = args
            .since
            .map(|since| format!(" within the last {}", short_duration(since)));
        notes.push_str(&format!(
            "no journal records{}{} in {}\n",
            group.unwrap_or_default(),
            since.unwrap_or_default(),
            settings.journal_file.display()
        ));
    }
    if found.left_out > 0 {
        notes.push_str(&format!(
            "note: {} left out: history shows the newest {HISTORY_CAP}; narrow it with GROUP_ID \
             or --since\n",
            counted(found.left_out as usize, "older record")
        ));
    }
    if found.unreadable > 0 {
        notes.push_str(&format!(
            "warning: {} of the journal {} no record; run `groupsync journal verify`\n",
            counted(found.unreadable as usize, "line"),
            if found.unreadable == 1 { "is" } else { "are" }
        ));
    }
    eprint!("{}", escaped_lines(&notes));
    Ok(Outcome::Clean)
}

fn refuse_markdown(format: OutputFormat, command: &str) -> anyhow::Result<()> {
    match format {
        OutputFormat::Markdown => {
            anyhow::bail!("`{command}` prints text or JSON: use --format text or --format json")
        }
        OutputFormat::Text | OutputFormat::Json => Ok(()),
    }
}

/// `TIME  KIND  GROUP  METHOD PATH BODY -> STATUS  rev REVISION by AUTHOR  plan DIGEST  ACTOR on HOST`,
/// leaving out what the record does not have; one line, escaped.
fn history_line(record: &JournalRecord) -> String {
    let entry = &record.entry;
    let request = &entry.request;
    let mut line = format!(
        "{}  {}  {}  {} {}",
        entry.time,
        entry.kind.as_str(),
        entry.group_id,
        request.method,
        request.path
    );
    if !request.body.is_null() {
        line.push_str(&format!(" {}", request.body));
    }
    line.push_str(&format!(" -> {}", entry.status));
    if let Some(revision) = &entry.revision {
        line.push_str(&format!("  rev {}", short_revision(revision)));
        if let Some(author) = &entry.author {
            line.push_str(&format!(" by {author}"));
        }
    }
    if let Some(digest) = &entry.plan_digest {
        line.push_str(&format!(
            "  plan {}",
            crate::pipeline::saved::digest::short(digest)
        ));
    }
    line.push_str(&format!("  {} on {}", entry.actor, entry.host));
    format!("{}\n", escaped(&line))
}

/// A git hash cut to its first 7 characters (`-dirty` kept); other text whole.
fn short_revision(revision: &str) -> String {
    let hex = revision
        .bytes()
        .take_while(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        .count();
    match hex {
        40 | 64 => format!("{}{}", &revision[..7], &revision[hex..]),
        _ => revision.to_string(),
    }
}

/// Each line of `text` escaped, its line ends kept.
fn escaped_lines(text: &str) -> String {
    text.lines()
        .map(|line| format!("{}\n", escaped(line)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::short_revision;

    #[test]
    fn a_git_revision_is_shortened_and_other_text_kept() {
        let hash = "4f2c1e9".to_string() + &"0".repeat(33);
        assert_eq!(short_revision(&hash), "4f2c1e9");
        assert_eq!(short_revision(&format!("{hash}-dirty")), "4f2c1e9-dirty");
        assert_eq!(short_revision("build-77"), "build-77");
        assert_eq!(short_revision("abc"), "abc");
    }
}
