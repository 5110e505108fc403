//! The commands that print a text of the program's own: `help`,
//! `completions` and `schema`, all generated from the clap definitions or
//! the schema's keys, so they cannot drift from them (`manpage` has a
//! module of its own, [`super::manpage`]).

use clap::{CommandFactory, Parser};

use crate::cli::args::Cli;
use crate::cli::usage::Usage;
use crate::commands::outcome::Outcome;
use crate::commands::output::print_stdout;
use crate::desired;

/// `groupsync help [COMMAND]`: exactly what `groupsync [COMMAND] --help` prints.
pub fn help(command: Option<&str>) -> anyhow::Result<Outcome> {
    let args = ["groupsync"].into_iter().chain(command).chain(["--help"]);
    match Cli::try_parse_from(args) {
        Err(help_or_usage) => Err(Usage(help_or_usage).into()),
        Ok(_) => unreachable!("--help always ends the parse"),
    }
}

/// `groupsync completions SHELL`: the script that shell sources.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<Outcome> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "groupsync", &mut script);
    let script = String::from_utf8(script).expect("completion scripts are UTF-8");
    print_stdout(&script).map(printed)
}

/// `groupsync schema`: the JSON Schema of a groups.d file.
pub fn schema() -> anyhow::Result<Outcome> {
    print_stdout(&desired::schema::groups_schema_text()).map(printed)
}

/// The outcome of a command that only prints, once it has printed.
fn printed(_: ()) -> Outcome {
    Outcome::Clean
}
