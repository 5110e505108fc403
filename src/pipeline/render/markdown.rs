//! `--format markdown`: a plan, or what an apply did, for a pull-request
//! comment or a CI job summary (`>> "$GITHUB_STEP_SUMMARY"`).
//!
//! A one-line summary in bold; then per change a collapsed `<details>` block
//! holding its unified diff in a `diff` fence and its requests in a `text`
//! fence; then `### Drift` and `### Errors`, each a `text` fence, when there
//! are any. Nothing else, and never colour.
//!
//! Names and values come from the YAML and the pod, so none is trusted: text
//! inside `<summary>` is HTML-escaped, and every fence is longer than the
//! longest run of backticks it holds, so that no value can close it.

use std::fmt::Write as _;

use crate::error::Diagnostic;
use crate::kinds::core::Action;
use crate::pipeline::apply::ApplyReport;
use crate::pipeline::plan::{Change, Plan};
use crate::pipeline::render::common::{
    HELD_HINT, Report, applied_lines, apply_error, apply_summary, drift_line, escaped, held_lines,
    orphan_lines, provenance_lines, request_lines, summary_line, unified_diff,
};
use crate::text::counted;

/// The plan (or the apply) as Markdown.
pub fn render_markdown(report: &Report) -> String {
    let mut out = headline(&report_summary(report), report);
    let titles = match report.apply {
        Some(applied) => applied_lines(applied, report.plan),
        None => report.plan.changes.iter().map(planned_title).collect(),
    };
    for (change, title) in report.plan.changes.iter().zip(&titles) {
        render_change(&mut out, change, title);
    }
    let drift: Vec<String> = report.drift.iter().map(drift_line).collect();
    section(&mut out, "Drift", &drift);
    section(&mut out, "Orphans", &orphan_lines(report.plan));
    let mut held = held_lines(report.plan);
    if !held.is_empty() {
        held.push(HELD_HINT.to_string());
    }
    section(&mut out, "Held drift", &held);
    section(&mut out, "Errors", &error_lines(report));
    one_newline_at_the_end(out)
}

/// Input that did not load (`plan`, `apply`, `validate`): the count, then every error.
pub fn render_invalid_markdown(diagnostics: &[Diagnostic]) -> String {
    let summary = format!(
        "{}; nothing was planned or written.",
        counted(diagnostics.len(), "error")
    );
    let mut out = format!("**{}**\n\n", html_escaped(&summary));
    let lines: Vec<String> = diagnostics
        .iter()
        .map(|diagnostic| escaped(&diagnostic.to_string()))
        .collect();
    section(&mut out, "Errors", &lines);
    one_newline_at_the_end(out)
}

/// A run that failed before it had a result (the pod down, a bad config, the
/// state file, a safety limit): the summary says so, and the message, escaped,
/// is the Errors section.
pub fn render_failure_markdown(message: &str) -> String {
    let mut out = String::from("**The run failed before it had a result.** Errors: 1.\n\n");
    section(&mut out, "Errors", &[escaped(message)]);
    one_newline_at_the_end(out)
}

/// Blocks are separated by a blank line; the document ends with one newline.
fn one_newline_at_the_end(mut out: String) -> String {
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// `validate` of valid input: `**12 groups valid in 5 files.**`
pub fn render_valid_markdown(groups: usize, files: usize) -> String {
    format!(
        "**{} valid in {}.**\n",
        counted(groups, "group"),
        counted(files, "file")
    )
}

/// `Plan: ...` or `Apply: ...`, as the text format's last line says it.
fn report_summary(report: &Report) -> String {
    match report.apply {
        Some(applied) => apply_summary(applied, report.plan),
        None => summary_line(report.plan),
    }
}

/// `**Plan: 1 to update, 118 unchanged.** Drift: 1 group. Errors: 2.` and a blank line.
fn headline(summary: &str, report: &Report) -> String {
    let mut line = format!("**{}**", html_escaped(summary));
    if !report.drift.is_empty() {
        let _ = write!(line, " Drift: {}.", counted(report.drift.len(), "group"));
    }
    let errors = error_lines(report).len();
    if errors > 0 {
        let _ = write!(line, " Errors: {errors}.");
    }
    line.push_str("\n\n");
    for provenance in provenance_lines(report) {
        let _ = writeln!(line, "{}  ", html_escaped(&provenance));
    }
    if line.ends_with("  \n") {
        line.push('\n');
    }
    line
}

/// `update 6543a1f0c2 "EMEA trading scope" (groups.d/emea.yaml)`, or for a
/// create `create "EMEA rates" (groups.d/emea.yaml)`.
fn planned_title(change: &Change) -> String {
    let source = change.source.display();
    match (change.action, change.group_id.as_deref()) {
        (Action::Create, _) | (_, None) => {
            format!("create {} ({source})", escaped(&change.key.to_string()))
        }
        (action, Some(id)) => {
            let verb = match action {
                Action::Adopt => "adopt",
                Action::Prune => "prune",
                _ => "update",
            };
            match change.name() {
                Some(name) => format!("{verb} {} {} ({source})", escaped(id), quoted(name)),
                None => format!("{verb} {} ({source})", escaped(id)),
            }
        }
    }
}

/// One change: its title, then its diff and its requests, folded away.
/// The title stays on its line (a file name may hold a line break).
fn render_change(out: &mut String, change: &Change, title: &str) {
    let title = html_escaped(&escaped(title));
    let _ = writeln!(out, "<details><summary>{title}</summary>\n");
    let diff: Vec<String> = unified_diff(change).lines().map(escaped).collect();
    out.push_str(&fenced("diff", &lines_of(&diff)));
    let mut requests = request_lines(change);
    requests.extend(
        change
            .warnings()
            .iter()
            .map(|warning| escaped(&format!("warning: {warning}"))),
    );
    requests.extend(
        change
            .notes
            .iter()
            .map(|note| escaped(&format!("note: {note}"))),
    );
    out.push('\n');
    out.push_str(&fenced("text", &lines_of(&requests)));
    out.push_str("\n</details>\n\n");
}

/// `### Title` and its lines in a fence; nothing when there are no lines.
fn section(out: &mut String, title: &str, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(out, "### {title}\n");
    out.push_str(&fenced("text", &lines_of(lines)));
    out.push('\n');
}

/// What failed the run: input errors, then the groups an apply could not
/// change, then the changes a stop left out.
fn error_lines(report: &Report) -> Vec<String> {
    let mut lines: Vec<String> = report
        .errors
        .iter()
        .map(|error| escaped(&error.to_string()))
        .collect();
    if let Some(applied) = report.apply {
        lines.extend(failure_lines(applied, report.plan));
    }
    lines
}

fn failure_lines(applied: &ApplyReport, plan: &Plan) -> Vec<String> {
    let mut lines: Vec<String> = applied
        .failed
        .iter()
        .map(|failure| {
            let shown = match failure.group_id.as_deref() {
                Some(id) => id.to_string(),
                None => plan.changes[failure.change].key.to_string(),
            };
            let source = failure.source.display();
            escaped(&format!("{shown} ({source}): {}", failure.error))
        })
        .collect();
    if applied.not_started > 0 {
        lines.push(format!(
            "{} not started: {}",
            counted(applied.not_started, "change"),
            applied.not_started_reason()
        ));
    }
    if let Some(error) = apply_error(applied) {
        lines.push(escaped(&error));
    }
    lines
}

fn lines_of(lines: &[String]) -> String {
    let mut text = String::new();
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// `text` in a fenced code block that nothing inside can close: the fence is
/// one backtick longer than the longest run of backticks in `text` (at least three).
fn fenced(info: &str, text: &str) -> String {
    let longest = longest_backtick_run(text);
    let fence = "`".repeat((longest + 1).max(3));
    let mut block = format!("{fence}{info}\n{text}");
    if !text.is_empty() && !text.ends_with('\n') {
        block.push('\n');
    }
    block.push_str(&fence);
    block.push('\n');
    block
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|character| character != '`')
        .map(str::len)
        .max()
        .unwrap_or(0)
}

/// A name in double quotes, as JSON writes it (control characters escaped).
fn quoted(text: &str) -> String {
    escaped(&serde_json::to_string(text).expect("strings always serialize"))
}

/// Text safe as an HTML element's content: `&`, `<` and `>` as entities
/// (quotes need none outside attributes, and read better as they are).
fn html_escaped(text: &str) -> String {
    let mut safe = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => safe.push_str("&amp;"),
            '<' => safe.push_str("&lt;"),
            '>' => safe.push_str("&gt;"),
            other => safe.push(other),
        }
    }
    safe
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fence_outgrows_every_backtick_run_inside() {
        assert_eq!(fenced("diff", "a\n"), "```diff\na\n```\n");
        assert_eq!(fenced("text", "x ``` y\n"), "````text\nx ``` y\n````\n");
        assert_eq!(
            fenced("text", "`````\n"),
            "``````text\n`````\n``````\n",
            "a line of backticks alone cannot close it either"
        );
        assert_eq!(fenced("text", "no newline"), "```text\nno newline\n```\n");
    }

    #[test]
    fn html_in_a_summary_is_text() {
        assert_eq!(
            html_escaped("</details><script>alert('x')</script> & \"q\""),
            "&lt;/details&gt;&lt;script&gt;alert('x')&lt;/script&gt; &amp; \"q\""
        );
    }

    #[test]
    fn invalid_input_is_a_count_and_the_errors() {
        let errors = [Diagnostic::at("groups.d/a.yaml", 3, 1, "unknown key `x`")];
        assert_eq!(
            render_invalid_markdown(&errors),
            "**1 error; nothing was planned or written.**\n\n### Errors\n\n\
             ```text\ngroups.d/a.yaml:3:1: unknown key `x`\n```\n"
        );
    }

    #[test]
    fn an_empty_plan_is_its_summary_alone() {
        let plan = Plan {
            unchanged: 3,
            ..Plan::default()
        };
        assert_eq!(
            render_markdown(&Report::of_plan(&plan)),
            "**No changes. 3 groups in sync.**\n"
        );
    }
}
