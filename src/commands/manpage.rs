//! `groupsync manpage`: groupsync(1) and a page per command
//! (groupsync-plan(1), ...), in roff. clap_mangen writes them from the clap
//! definitions; this module adds what clap does not know, each from the one
//! place the program keeps it: ENVIRONMENT from the settings table
//! ([`SETTINGS`]), FILES from the settings' default paths, EXIT STATUS from
//! [`EXIT_STATUS`]; and a command's closing text (the credentials) as a
//! preformatted block, so that its table keeps its lines.

use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::args::Cli;
use crate::cli::help::CREDENTIALS_HELP;
use crate::commands::outcome::{EXIT_STATUS, Outcome, code_of};
use crate::commands::output::print_stdout;
use crate::config::{DefaultValue, SETTINGS, SettingSpec};
use crate::error::short_duration;
use crate::shutdown::StopSignal;

/// A man page: its file name (`groupsync-plan.1`) and its roff.
pub struct Page {
    pub file_name: String,
    pub roff: String,
}

/// `groupsync manpage [COMMAND]`: the page on stdout; with `--out-dir DIR`,
/// every page into DIR (created if missing), the count on stderr.
pub fn run(command: Option<&str>, out_dir: Option<&Path>) -> anyhow::Result<Outcome> {
    let Some(dir) = out_dir else {
        print_stdout(&page(command)?)?;
        return Ok(Outcome::Clean);
    };
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the folder {}", dir.display()))?;
    let pages = pages();
    for page in &pages {
        let path = dir.join(&page.file_name);
        std::fs::write(&path, &page.roff)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    eprintln!("{} man pages in {}", pages.len(), dir.display());
    Ok(Outcome::Clean)
}

/// Every page: groupsync(1), then one per command, in the order of `--help`.
pub fn pages() -> Vec<Page> {
    let names = command_names();
    let main = Page {
        file_name: "groupsync.1".to_string(),
        roff: page(None).expect("the main page renders"),
    };
    let commands = names.iter().map(|name| Page {
        file_name: format!("groupsync-{name}.1"),
        roff: page(Some(name)).expect("a command's page renders"),
    });
    std::iter::once(main).chain(commands).collect()
}

/// The commands, each with a page of its own.
fn command_names() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .filter(|command| !command.is_hide_set())
        .map(|command| command.get_name().to_string())
        .collect()
}

/// groupsync(1), or groupsync-COMMAND(1).
pub fn page(command: Option<&str>) -> anyhow::Result<String> {
    let mut cli = Cli::command();
    // Built, so that a command's page is titled `groupsync-plan`, as the main page names it.
    cli.build();
    let shown = match command {
        None => cli,
        Some(name) => match cli.find_subcommand(name) {
            Some(subcommand) => subcommand.clone(),
            None => {
                let names: Vec<&str> = cli.get_subcommands().map(|sub| sub.get_name()).collect();
                anyhow::bail!("no command `{name}`; the commands are {}", names.join(", "))
            }
        },
    };
    let closing = shown.get_after_help().map(|text| text.to_string());
    // clap_mangen would reflow the closing text; it is written below, as it is.
    let shown = shown.after_help(None::<&str>).after_long_help(None::<&str>);
    let mut rendered = Vec::new();
    clap_mangen::Man::new(shown)
        .source(concat!("groupsync ", env!("CARGO_PKG_VERSION")))
        .render(&mut rendered)?;
    let rendered = String::from_utf8(rendered)?;
    let mut ours = String::new();
    if let Some(text) = closing {
        let title = if text == CREDENTIALS_HELP {
            "CREDENTIALS"
        } else {
            "NOTES"
        };
        ours.push_str(&preformatted_section(title, &text));
    }
    if command.is_none() {
        ours.push_str(&environment_section());
        ours.push_str(&files_section());
        ours.push_str(&exit_status_section());
    }
    // Before VERSION, which man pages keep near the end.
    Ok(match rendered.find("\n.SH VERSION\n") {
        Some(at) => format!("{}{ours}{}", &rendered[..=at], &rendered[at + 1..]),
        None => rendered + &ours,
    })
}

/// `text` as a roff text line: backslashes and dashes escaped, apostrophes
/// as the page's `Aq` string (clap_mangen defines it), and a leading `.`
/// kept from reading as a request.
fn roff(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\e")
        .replace('-', "\\-")
        .replace('\'', "\\*(Aq");
    if escaped.starts_with('.') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

fn bold(text: &str) -> String {
    format!("\\fB{}\\fR", roff(text))
}

/// A section whose text keeps its lines and spaces (`.nf` ... `.fi`).
fn preformatted_section(title: &str, text: &str) -> String {
    let mut out = format!(".SH {title}\n.nf\n");
    for line in text.lines() {
        out.push_str(&roff(line));
        out.push('\n');
    }
    out.push_str(".fi\n");
    out
}

/// A tagged paragraph: `tag` on its line, `text` indented below it.
fn tagged(tag: &str, text: &str) -> String {
    format!(".TP\n{tag}\n{}\n", roff(text))
}

/// How a setting is set besides its default: its flag, its environment
/// variable and its config file key, each as the docs write it.
struct SetBy {
    flag: Option<String>,
    variable: Option<String>,
    key: Option<String>,
}

impl SetBy {
    fn of(cli: &clap::Command, spec: &SettingSpec) -> SetBy {
        let arg = spec.flag.map(|id| {
            cli.get_arguments()
                .find(|arg| arg.get_id() == id)
                .unwrap_or_else(|| panic!("the command line has no flag {id}"))
        });
        let variable = arg
            .and_then(|arg| arg.get_env())
            .map(|env| env.to_string_lossy().into_owned())
            .or(spec.env.map(str::to_string));
        SetBy {
            flag: arg
                .and_then(|arg| arg.get_long())
                .map(|long| format!("--{long}")),
            variable,
            key: spec.key.map(|key| format!("{key} in the config file")),
        }
    }
}

/// `a`, `a or b`, `a, b or c`.
fn either(names: &[&String]) -> String {
    match names.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => {
            let rest: Vec<&str> = rest.iter().map(|name| name.as_str()).collect();
            format!("{} or {last}", rest.join(", "))
        }
        None => String::new(),
    }
}

/// Every environment variable of the settings table, with the flag and the
/// config file key it stands for, what it does and its default.
fn environment_section() -> String {
    let cli = Cli::command();
    let mut out = String::from(".SH ENVIRONMENT\n");
    for spec in SETTINGS {
        let set_by = SetBy::of(&cli, spec);
        let Some(variable) = &set_by.variable else {
            continue;
        };
        let mut text = String::new();
        let others: Vec<&String> = [&set_by.flag, &set_by.key].into_iter().flatten().collect();
        if !others.is_empty() {
            text.push_str(&format!("As {}. ", either(&others)));
        }
        text.push_str(&plain(spec.doc));
        if let Some(default) = default_text(spec.default) {
            text.push_str(&format!(" Default: {default}."));
        }
        out.push_str(&tagged(&bold(variable), &text));
    }
    out
}

/// The files groupsync reads and writes: the settings' default paths, and
/// the credential systemd passes.
fn files_section() -> String {
    let cli = Cli::command();
    let mut out = String::from(".SH FILES\n");
    let files = [
        ("config", "The config file, read if it exists."),
        (
            "groups_dir",
            "The desired state: every *.yaml file below it. The packages install \
             /etc/groupsync/groups.d.",
        ),
        (
            "state_file",
            "The state file: the stored snapshot of the pod. The packaged service keeps it in \
             /var/lib/groupsync/state.json.",
        ),
    ];
    for (flag, what) in files {
        let spec = SETTINGS
            .iter()
            .find(|spec| spec.flag == Some(flag))
            .unwrap_or_else(|| panic!("no setting is set by the flag {flag}"));
        let DefaultValue::Path(path) = spec.default else {
            panic!("the setting {flag} has no default path");
        };
        let set_by = SetBy::of(&cli, spec);
        let names: Vec<&String> = [&set_by.flag, &set_by.variable, &set_by.key]
            .into_iter()
            .flatten()
            .collect();
        let text = format!("{what} Another one is named by {}.", either(&names));
        out.push_str(&tagged(&bold(path), &text));
    }
    out.push_str(&tagged(
        &bold(&format!("STATE{}", crate::config::JOURNAL_SUFFIX)),
        "The journal: one hash-chained record per write, beside the state file and named after \
         it (the packaged service: /var/lib/groupsync/state.journal.jsonl), with its rotated \
         files .1, .2, ... beside it. Another one is named by --journal, GROUPSYNC_JOURNAL or \
         journal_file in the config file.",
    ));
    out.push_str(&tagged(
        &bold("$CREDENTIALS_DIRECTORY/session-token"),
        "Under systemd, the session token the unit passes with \
         LoadCredential=session-token:FILE (the packaged unit: /etc/groupsync/session-token), \
         used when no other way to log in is set.",
    ));
    out
}

/// What each exit code means, per command, from [`EXIT_STATUS`].
fn exit_status_section() -> String {
    let mut out = String::from(".SH \"EXIT STATUS\"\n");
    for row in &EXIT_STATUS {
        let commands: Vec<String> = row.commands.iter().map(|name| bold(name)).collect();
        let mut meanings = vec![
            format!("{} {}", code_of(Outcome::Clean), plain(row.clean)),
            format!("{} {}", code_of(Outcome::Failed), plain(row.failed)),
        ];
        if let Some(pending) = row.pending {
            meanings.push(format!("{} {}", code_of(Outcome::ChangesPending), pending));
        }
        out.push_str(&tagged(&commands.join(", "), &meanings.join("; ")));
    }
    out.push_str(".PP\n");
    out.push_str(&roff(&format!(
        "A usage error (an unknown flag, a missing command) exits {}, never {}. A second \
         SIGINT or SIGTERM ends the process at once, with {} or {}.",
        code_of(Outcome::Failed),
        code_of(Outcome::ChangesPending),
        code_of(Outcome::Interrupted(StopSignal::Interrupt)),
        code_of(Outcome::Interrupted(StopSignal::Terminate)),
    )));
    out.push('\n');
    out
}

/// A default as the man page shows it; `None` when there is none.
fn default_text(default: DefaultValue) -> Option<String> {
    match default {
        DefaultValue::None => None,
        DefaultValue::Note(note) => Some(plain(note)),
        DefaultValue::Path(text) | DefaultValue::Text(text) => Some(text.to_string()),
        DefaultValue::Duration(duration) => Some(short_duration(duration)),
        DefaultValue::Size(size) => Some(crate::config::format_size(size)),
        DefaultValue::Count(count) => Some(count.to_string()),
        DefaultValue::Number(number) => Some(number.to_string()),
        DefaultValue::Bool(value) => Some(value.to_string()),
    }
}

/// The settings table's Markdown as plain text: no references to the
/// reference's sections (` (see [X](#x))`, ` See [X](#x).`), other links as
/// their text, no code spans or bold.
fn plain(markdown: &str) -> String {
    let mut text = String::with_capacity(markdown.len());
    let unreferenced = without_references(markdown);
    let mut rest = unreferenced.as_str();
    while let Some(open) = rest.find('[') {
        let link = rest[open..].split_once("](").and_then(|(label, after)| {
            let close = after.find(')')?;
            Some((&label[1..], &after[close + 1..]))
        });
        match link {
            Some((label, after)) if !label.contains('[') => {
                text.push_str(&rest[..open]);
                text.push_str(label);
                rest = after;
            }
            _ => {
                text.push_str(&rest[..=open]);
                rest = &rest[open + 1..];
            }
        }
    }
    text.push_str(rest);
    text.replace("**", "").replace('`', "")
}

/// `markdown` without ` (see [X](#x))` and ` See [X](#x).`: a man page
/// has no anchors to follow.
fn without_references(markdown: &str) -> String {
    let mut text = markdown.to_string();
    for (open, close) in [(" (see [", "))"), (" See [", ").")] {
        while let Some(start) = text.find(open) {
            let link = text[start + open.len()..]
                .split_once("](#")
                .and_then(|(label, after)| {
                    let end = after.find(close)?;
                    let target = &after[..end];
                    let simple =
                        !label.contains(['[', ']', '(', ')']) && !target.contains(['(', ' ']);
                    simple.then_some(start + open.len() + label.len() + 3 + end + close.len())
                });
            let Some(end) = link else { break };
            text.replace_range(start..end, "");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::{page, pages, plain};
    use crate::cli::help::CREDENTIALS_HELP;
    use crate::config::SETTINGS;

    /// The `.SH` headings of a page, in order.
    fn sections(page: &str) -> Vec<&str> {
        page.lines()
            .filter_map(|line| line.strip_prefix(".SH "))
            .collect()
    }

    /// The text of the section `title`, up to the next one.
    fn section<'a>(page: &'a str, title: &str) -> &'a str {
        let start = page
            .find(&format!(".SH {title}\n"))
            .unwrap_or_else(|| panic!("no section {title}:\n{page}"));
        let rest = &page[start + 1..];
        rest.find("\n.SH ").map_or(rest, |end| &rest[..end])
    }

    #[test]
    fn the_main_page_has_environment_files_and_exit_status() {
        let main = page(None).unwrap();
        assert_eq!(
            sections(&main),
            [
                "NAME",
                "SYNOPSIS",
                "DESCRIPTION",
                "OPTIONS",
                "SUBCOMMANDS",
                "ENVIRONMENT",
                "FILES",
                "\"EXIT STATUS\"",
                "VERSION"
            ],
            "{main}"
        );
        let files = section(&main, "FILES");
        for path in [
            "/etc/groupsync/groupsync.yaml",
            "groups.d",
            "groupsync.state.json",
            "$CREDENTIALS_DIRECTORY/session\\-token",
        ] {
            assert!(
                files.contains(&format!(".TP\n\\fB{path}\\fR\n")),
                "{path}:\n{files}"
            );
        }
        let exit = section(&main, "\"EXIT STATUS\"");
        for line in [
            ".TP\n\\fBplan\\fR, \\fBrun \\-\\-dry\\-run \\-\\-once\\fR\n\
             0 no changes; 1 any error; 2 changes pending\n",
            "exits 1, never 2",
            "with 130 or 143",
        ] {
            assert!(exit.contains(line), "{line}:\n{exit}");
        }
    }

    /// Every variable of the settings table, with the flag it stands for.
    #[test]
    fn the_environment_is_the_settings_tables() {
        let main = page(None).unwrap();
        let environment = section(&main, "ENVIRONMENT");
        for variable in [
            "GROUPSYNC_CONFIG",
            "GROUPSYNC_POD_URL",
            "GROUPSYNC_STATE",
            "RUST_LOG",
            "GROUPSYNC_SESSION_TOKEN",
            "CREDENTIALS_DIRECTORY",
        ] {
            let tag = format!(".TP\n\\fB{variable}\\fR\n");
            assert!(environment.contains(&tag), "{variable}:\n{environment}");
        }
        let with_env = SETTINGS
            .iter()
            .filter(|spec| spec.flag.is_some() || spec.env.is_some());
        assert_eq!(environment.matches(".TP\n").count(), with_env.count());
        assert!(
            environment.contains("As \\-\\-pod\\-url or pod.url in the config file. The pod,"),
            "{environment}"
        );
        assert!(
            !environment.contains('`') && !environment.contains("](#"),
            "{environment}"
        );
    }

    #[test]
    fn the_credentials_keep_their_lines_in_the_man_page() {
        for command in ["plan", "apply", "run"] {
            let page = page(Some(command)).unwrap();
            let credentials = section(&page, "CREDENTIALS");
            let block = credentials
                .trim_end()
                .strip_prefix("SH CREDENTIALS\n.nf\n")
                .and_then(|rest| rest.strip_suffix("\n.fi"))
                .unwrap_or_else(|| panic!("not preformatted:\n{credentials}"));
            let lines: Vec<String> = CREDENTIALS_HELP
                .lines()
                .map(|line| line.replace('-', "\\-"))
                .collect();
            assert_eq!(block.lines().collect::<Vec<_>>(), lines, "{command}");
            assert!(!page.contains(".SH EXTRA"), "{page}");
        }
    }

    #[test]
    fn every_command_has_its_page() {
        let pages = pages();
        let names: Vec<&str> = pages.iter().map(|page| page.file_name.as_str()).collect();
        assert_eq!(
            names[..3],
            ["groupsync.1", "groupsync-validate.1", "groupsync-plan.1"]
        );
        let main = &pages[0].roff;
        for page in &pages[1..] {
            let title = page.file_name.trim_end_matches(".1").replace('-', "\\-");
            assert!(main.contains(&format!("\n{title}(1)\n")), "{title}");
            assert!(
                page.roff
                    .contains(&format!(".TH {} 1 ", page.file_name.trim_end_matches(".1")))
            );
        }
        assert!(names.contains(&"groupsync-manpage.1"));
    }

    #[test]
    fn markdown_links_and_code_read_as_plain_text() {
        assert_eq!(
            plain("see [Credentials](#credentials), `plan` and **every** [x] y"),
            "see Credentials, plan and every [x] y"
        );
        assert_eq!(
            plain(
                "The snapshot (see [The state file](#the-state-file)). Read it. See [Retries](#retries)."
            ),
            "The snapshot. Read it."
        );
        assert_eq!(plain("A (see [b](#c)) d (see [e](#f))"), "A d");
    }
}
