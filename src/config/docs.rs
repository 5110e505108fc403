//! The tables of `docs/interface.md` that the code writes: the settings
//! ([`settings_markdown`], from [`SETTINGS`] and the flags of
//! [`Overrides`](super::Overrides)) and the safety limits
//! ([`limits_markdown`], from [`LIMITS`]). A test in `tests/docs.rs` fails
//! when the file's tables differ, and rewrites them when asked to.

use super::limits::{LIMITS, LimitSpec};
use super::settings::{DefaultValue, SETTINGS, SettingSpec, override_flags};
use super::{MAX_DURATION, MAX_JOURNAL_SIZE, MIN_JOURNAL_SIZE};
use crate::error::{format_size, short_duration};

/// The settings table, one row a setting, as Markdown (ending in a newline).
pub fn settings_markdown() -> String {
    let flags = override_flags();
    let mut text = String::from(
        "| key | flag | environment | value | default | what it does |\n|---|---|---|---|---|---|\n",
    );
    for spec in SETTINGS {
        let arg = spec.flag.map(|id| {
            flags
                .get_arguments()
                .find(|arg| arg.get_id() == id)
                .unwrap_or_else(|| panic!("Overrides has no field {id}"))
        });
        let flag = arg.map_or_else(dash, flag_cell);
        let env = arg
            .and_then(|arg| arg.get_env())
            .map(|env| env.to_string_lossy().into_owned())
            .or(spec.env.map(str::to_string))
            .map_or_else(dash, |env| code(&env));
        let key = spec.key.map_or_else(dash, code);
        let cells = [
            key,
            flag,
            env,
            kind_cell(spec),
            default_cell(spec.default),
            doc_cell(spec),
        ];
        push_row(&mut text, &cells);
    }
    text
}

/// The safety limits table, as Markdown (ending in a newline).
pub fn limits_markdown() -> String {
    let mut text = String::from(
        "| key | counts | default | a plan over it is refused with |\n|---|---|---|---|\n",
    );
    for spec in &LIMITS {
        let example = spec.refusal(spec.default + 1, "", spec.default);
        let counts = match spec.detail {
            "" => spec.counts.to_string(),
            detail => format!("{}: {detail}", spec.counts),
        };
        let cells = [
            code(spec.key),
            counts,
            format!("`{}`", spec.default),
            // Plain text: the message holds code spans of its own.
            example,
        ];
        push_row(&mut text, &cells);
    }
    text
}

/// What the value is written as; a duration with its range, `duration, 1s to 8760h`.
fn kind_cell(spec: &SettingSpec) -> String {
    match spec.kind {
        "duration" => format!(
            "duration, {} to {}",
            code(&short_duration(spec.min)),
            code(&short_duration(MAX_DURATION))
        ),
        // The one size setting, `journal.max_size`.
        "size" => format!(
            "size, {} to {}",
            code(&format_size(MIN_JOURNAL_SIZE)),
            code(&format_size(MAX_JOURNAL_SIZE))
        ),
        kind => kind.to_string(),
    }
}

fn doc_cell(spec: &SettingSpec) -> String {
    match spec.limit {
        Some(limit) => limit_doc(limit.spec()),
        None => spec.doc.to_string(),
    }
}

/// A limit's row in the settings table: what it counts, and where the rest is.
fn limit_doc(spec: &LimitSpec) -> String {
    format!(
        "A cycle whose plan has more {} than this writes nothing, unless `--force`. \
         See [Safety limits](#safety-limits).",
        spec.counts
    )
}

/// `--log-level LEVEL`, `--log-format text|json`.
fn flag_cell(arg: &clap::Arg) -> String {
    let long = arg.get_long().expect("every override is a --flag");
    let possible: Vec<String> = arg
        .get_possible_values()
        .iter()
        .map(|value| value.get_name().to_string())
        .collect();
    let value = match arg.get_value_names() {
        _ if !possible.is_empty() => possible.join("|"),
        Some(names) => names
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" "),
        None => String::new(),
    };
    match value.is_empty() {
        true => code(&format!("--{long}")),
        false => code(&format!("--{long} {value}")),
    }
}

fn default_cell(default: DefaultValue) -> String {
    match default {
        DefaultValue::None => "none".to_string(),
        DefaultValue::Note(note) => note.to_string(),
        DefaultValue::Path(path) if path.starts_with('/') => code(path),
        DefaultValue::Path(path) => code(&format!("./{path}")),
        DefaultValue::Text(text) => code(text),
        DefaultValue::Duration(duration) => code(&short_duration(duration)),
        DefaultValue::Size(size) => code(&format_size(size)),
        DefaultValue::Count(count) => code(&count.to_string()),
        DefaultValue::Number(number) => code(&number.to_string()),
        DefaultValue::Bool(value) => code(&value.to_string()),
    }
}

fn code(text: &str) -> String {
    format!("`{text}`")
}

fn dash() -> String {
    "—".to_string()
}

/// One table row; a `|` inside a cell is escaped (GitHub reads `\|` as `|`, in code spans too).
fn push_row(text: &mut String, cells: &[String]) {
    text.push('|');
    for cell in cells {
        text.push(' ');
        text.push_str(&cell.replace('|', "\\|"));
        text.push_str(" |");
    }
    text.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_shows_the_flag_its_variable_and_the_default_as_the_parser_has_them() {
        let table = settings_markdown();
        assert!(
            table.contains(
                "| `cycle_timeout` | `--cycle-timeout DURATION` | `GROUPSYNC_CYCLE_TIMEOUT` | duration, `1s` to `8760h` | `10m` |"
            ),
            "{table}"
        );
        assert!(
            table
                .contains("| `log.format` | `--log-format text\\|json` | `GROUPSYNC_LOG_FORMAT` |"),
            "{table}"
        );
        assert!(
            table.contains("| `groups_dir` | `--groups-dir DIR` | `GROUPSYNC_GROUPS_DIR` | path | `./groups.d` |"),
            "{table}"
        );
        assert!(
            table.contains(
                "| `retry.initial_interval` | — | — | duration, `0s` to `8760h` | `500ms` |"
            ),
            "{table}"
        );
        assert_eq!(table.lines().count(), 2 + SETTINGS.len());
    }

    #[test]
    fn the_limits_table_names_all_three_with_their_refusal() {
        let table = limits_markdown();
        for spec in &LIMITS {
            assert!(table.contains(&format!("| `{}` |", spec.key)), "{table}");
        }
        assert!(
            table.contains("| refusing to apply: the plan removes 11 members and assignees, more than limits.max_member_removals = 10; "),
            "{table}"
        );
    }
}
