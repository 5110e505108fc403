//! Every setting, described once: [`SETTINGS`], one [`SettingSpec`] a row.
//!
//! A row names the config file key (as the file's sections spell it), the
//! field of [`Overrides`] that sets it from a flag and its environment
//! variable (the flag's name, value and variable are read from that field's
//! `#[arg]`, so they are written once, there), what the value is written
//! as, its default (the constants the parser itself uses) and what it does.
//! [`settings_markdown`](super::docs::settings_markdown) renders the table of
//! `docs/interface.md` from it; tests keep it equal to the keys the file
//! format accepts, to the fields of `Overrides` and to the defaults `merge`
//! applies.

use std::time::Duration;

use super::limits::Limit;
use super::notify::{DEFAULT_DEDUPE, DEFAULT_FLUSH_TIMEOUT, DEFAULT_REPEAT, MIN_REPEAT};
use super::{
    DEFAULT_CONCURRENCY, DEFAULT_CONFIG, DEFAULT_CYCLE_TIMEOUT, DEFAULT_DEBOUNCE,
    DEFAULT_GROUPS_DIR, DEFAULT_INTERVAL, DEFAULT_JOURNAL_MAX_SIZE, DEFAULT_LOG_LEVEL,
    DEFAULT_MAX_PRUNE_FRACTION, DEFAULT_RETRY, DEFAULT_STATE_FILE, MIN_CYCLE_TIMEOUT, MIN_DEBOUNCE,
    MIN_INTERVAL, Overrides,
};

/// One setting, as the docs show it.
#[derive(Debug, Clone, Copy)]
pub struct SettingSpec {
    /// The config file key, dotted (`retry.max_attempts`); `None` for a
    /// flag or variable with no key (`--config`).
    pub key: Option<&'static str>,
    /// The field of [`Overrides`] (its clap id, e.g. `pod_url`) that sets
    /// it from a flag and the flag's environment variable.
    pub flag: Option<&'static str>,
    /// An environment variable read without a flag (`GROUPSYNC_SESSION_TOKEN`).
    pub env: Option<&'static str>,
    /// What the value is written as: `path`, `duration`, `` `text` | `json` ``...
    pub kind: &'static str,
    pub default: DefaultValue,
    /// What it does, and the rules its value must keep (Markdown).
    pub doc: &'static str,
    /// For the `limits.*` rows: which limit; the doc comes from [`LIMITS`](super::LIMITS).
    pub limit: Option<Limit>,
    /// For a `duration` row: the shortest the setting takes (the minimum of
    /// its `ConfigDuration`); the longest is [`MAX_DURATION`](super::MAX_DURATION) for all.
    pub min: Duration,
}

/// A setting's default, as the docs show it. The typed forms are the
/// parser's own constants, so the docs cannot drift from them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DefaultValue {
    /// No value: the setting is off, or something else decides (the doc says what).
    None,
    /// In words, when the default depends on something else.
    Note(&'static str),
    /// A path; a relative one is relative to the working directory.
    Path(&'static str),
    /// A word as the config file writes it (`minimal`).
    Text(&'static str),
    Duration(Duration),
    /// A size in bytes, shown in its largest whole binary unit (`64MiB`).
    Size(u64),
    Count(u64),
    Number(f64),
    Bool(bool),
}

impl SettingSpec {
    /// A setting with neither flag nor variable; the builders below add them.
    const fn key(
        key: &'static str,
        kind: &'static str,
        default: DefaultValue,
        doc: &'static str,
    ) -> Self {
        SettingSpec {
            key: Some(key),
            flag: None,
            env: None,
            kind,
            default,
            doc,
            limit: None,
            min: Duration::ZERO,
        }
    }

    /// The same, taking no duration shorter than `min`.
    const fn at_least(self, min: Duration) -> Self {
        SettingSpec { min, ..self }
    }

    /// The same, also set by the [`Overrides`] field `flag`.
    const fn with_flag(self, flag: &'static str) -> Self {
        SettingSpec {
            flag: Some(flag),
            ..self
        }
    }

    /// A limit's row, from its row in [`LIMITS`](super::LIMITS).
    const fn limit(limit: Limit) -> Self {
        let spec = limit.spec();
        SettingSpec {
            key: Some(spec.key),
            flag: None,
            env: None,
            kind: "integer",
            default: DefaultValue::Count(spec.default as u64),
            doc: "",
            limit: Some(limit),
            min: Duration::ZERO,
        }
    }
}

/// Every setting: each config file key, each flag of [`Overrides`] with its
/// environment variable, and the variables read without a flag. Commands'
/// own flags (`--format`, `--refresh`, `--force`, ...) are the command's.
pub const SETTINGS: &[SettingSpec] = &[
    SettingSpec {
        key: None,
        flag: Some("config"),
        env: None,
        kind: "path",
        default: DefaultValue::Path(DEFAULT_CONFIG),
        doc: "The config file. The default one is read if it exists; one named by the flag or \
              the variable must exist and be a regular file. `emulate` and `demo` read none.",
        limit: None,
        min: Duration::ZERO,
    },
    SettingSpec::key(
        "groups_dir",
        "path",
        DefaultValue::Path(DEFAULT_GROUPS_DIR),
        "The desired state: the folder of groups.d YAML files (see \
         [groups.d](#the-desired-state-groupsd)).",
    )
    .with_flag("groups_dir"),
    SettingSpec::key(
        "state_file",
        "path",
        DefaultValue::Path(DEFAULT_STATE_FILE),
        "The stored snapshot of the pod (see [The state file](#the-state-file)). Not inside \
         `groups_dir` (a hidden sub-folder or a link into it included, even a link whose target \
         does not exist yet): that is refused at start-up, on reload and by `validate`, naming \
         both paths, since each save would start another cycle.",
    )
    .with_flag("state_file"),
    SettingSpec::key(
        "journal_file",
        "path",
        DefaultValue::Note(
            "beside the state file, named after it: `state.json` -> `state.journal.jsonl`",
        ),
        "The journal: one hash-chained JSON line per write to the pod (see \
         [The journal](#the-journal)); created with mode 0600. A regular file or none yet: a \
         symlink, a directory, the state file itself, or a path inside `groups_dir` is refused \
         at start-up, on reload and by `validate`.",
    )
    .with_flag("journal_file"),
    SettingSpec::key(
        "journal.max_size",
        "size",
        DefaultValue::Size(DEFAULT_JOURNAL_MAX_SIZE),
        "When a record would take the journal past this size, the file is renamed \
         `JOURNAL.1` (then `.2`, ...) and a new one starts, chained to it. A whole number of \
         bytes, or with a unit: `KiB`, `MiB`, `GiB` (or `KB`, `MB`, `GB`).",
    ),
    SettingSpec {
        key: None,
        flag: Some("revision"),
        env: None,
        kind: "text",
        default: DefaultValue::Note("the git commit the groups dir is at"),
        doc: "The revision of the groups dir, instead of the one read from git (see \
              [The revision](#the-revision)): for a tree that is not a git work tree, e.g. \
              `GROUPSYNC_REVISION=$CI_COMMIT_SHA`. One line, at most 200 characters, no \
              control or invisible characters; empty counts as not set. No config file key: a \
              revision written into a file would outlive the tree it names.",
        limit: None,
        min: Duration::ZERO,
    },
    SettingSpec::key(
        "pod.url",
        "URL",
        DefaultValue::None,
        "The pod, e.g. `https://acme.symphony.com/pod`; calls go to \
         `{url}/v2/admin/usergroups/...`. `http://` or `https://` (in any case: `HTTPS://` is \
         `https://`), a host, optional `:port` and path; no spaces, query, fragment or \
         `user@`; a trailing `/` is dropped. Without one, \
         `plan` works offline from the snapshot (see [Credentials](#credentials)).",
    )
    .with_flag("pod_url"),
    SettingSpec::key(
        "pod.ca_file",
        "path",
        DefaultValue::None,
        "A PEM bundle of CA certificates trusted for the pod and the login URL **besides** the \
         system's; read at start-up (and on reload). See \
         [Networks](#networks-private-ca-proxies).",
    )
    .with_flag("ca_file"),
    SettingSpec::key(
        "proxy.url",
        "URL",
        DefaultValue::Note("none: `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` decide"),
        "`http://[user:password@]host[:port]` or `https://...`; no path, query or fragment. \
         Every pod and login request goes through it, except to hosts in `NO_PROXY`. The \
         password is never shown. See [Networks](#networks-private-ca-proxies).",
    ),
    SettingSpec {
        key: None,
        flag: None,
        env: Some("GROUPSYNC_SESSION_TOKEN"),
        kind: "session token",
        default: DefaultValue::None,
        doc: "A session token in the environment; wins over every other way to log in (see \
              [Credentials](#credentials)).",
        limit: None,
        min: Duration::ZERO,
    },
    SettingSpec::key(
        "auth.session_token_file",
        "path",
        DefaultValue::Note(
            "`$CREDENTIALS_DIRECTORY/session-token` if systemd passed one and no other way to log in is set",
        ),
        "A file holding a session token (see [Credentials](#credentials)).",
    ),
    SettingSpec::key(
        "auth.bot_username",
        "string",
        DefaultValue::None,
        "RSA bot login (see [Credentials](#credentials)); needs `auth.private_key_file`.",
    ),
    SettingSpec::key(
        "auth.private_key_file",
        "path",
        DefaultValue::None,
        "The bot's RSA key: PKCS#1 or PKCS#8 PEM, unencrypted, not accessible by group or others \
         (`chmod 600`); needs `auth.bot_username`.",
    ),
    SettingSpec::key(
        "auth.login_url",
        "URL",
        DefaultValue::Note("the pod URL's origin + `/login`"),
        "Where the bot logs in; only allowed with `auth.bot_username` and \
         `auth.private_key_file`.",
    ),
    SettingSpec::key(
        "auth.bdk_config",
        "path",
        DefaultValue::None,
        "An official Symphony SDK `config.yaml` to take the pod URL, the bot, `retry`, the proxy \
         and a PEM trust store from, each only where groupsync's own settings leave it out (see \
         [Credentials](#credentials)).",
    )
    .with_flag("bdk_config"),
    SettingSpec::key(
        "schedule",
        "cron",
        DefaultValue::Note("none (every `interval`)"),
        "When the daemon runs a cycle, besides start-up and changes: 5 fields (minute hour \
         day-of-month month day-of-week; 0 and 7 are Sunday), no seconds or years, in the local \
         zone or `TZ`; or a nickname such as `@hourly`. One that does not fire within the next 5 \
         years (`* * 31 2 *`) is refused. Not together with `interval`.",
    ),
    SettingSpec::key(
        "interval",
        "duration",
        DefaultValue::Duration(DEFAULT_INTERVAL),
        "How often the daemon runs a cycle when no `schedule` is set. Not together with \
         `schedule`.",
    )
    .at_least(MIN_INTERVAL),
    SettingSpec::key(
        "debounce",
        "duration",
        DefaultValue::Duration(DEFAULT_DEBOUNCE),
        "Quiet time after a change under the groups dir before the daemon's cycle starts.",
    )
    .at_least(MIN_DEBOUNCE),
    SettingSpec::key(
        "cycle_timeout",
        "duration",
        DefaultValue::Duration(DEFAULT_CYCLE_TIMEOUT),
        "A cycle (`plan`, `apply`, `run --once`, each daemon cycle) running longer is abandoned \
         and fails: `the cycle was abandoned after running for longer than cycle_timeout (10m); \
         ...` (`kind=\"timeout\"`); the answers saved so far stay in the state file.",
    )
    .at_least(MIN_CYCLE_TIMEOUT)
    .with_flag("cycle_timeout"),
    SettingSpec::key(
        "concurrency",
        "integer",
        DefaultValue::Count(DEFAULT_CONCURRENCY),
        "PUTs in flight at once, 1 to 256: an apply sends its requests this many groups at a \
         time, and refresh reads the member and assignee lists as many at a time.",
    ),
    SettingSpec::key(
        "update_mode",
        "`minimal` | `full`",
        DefaultValue::Text("minimal"),
        "`minimal`: a PUT carries only the fields that differ; `full`: every declared field of a \
         group that differs.",
    ),
    SettingSpec::key(
        "refresh",
        "`missing` | `always`",
        DefaultValue::Note(
            "none: `plan` and `apply` read every declared group; the daemon chooses per cycle",
        ),
        "Which declared groups (and managed lists) a cycle reads from the pod first: those the \
         snapshot lacks (`missing`, fast, may not show the pod as it is), or all (`always`, \
         finds drift), for every command and every daemon cycle. `--refresh[=false]` (on \
         `plan`, `apply`) and `--refresh` (on `run`) win. See \
         [Operating it](#operating-it-on-a-live-host) for the daemon's choice.",
    ),
    SettingSpec::key(
        "prune",
        "`off` | `deactivate`",
        DefaultValue::Text("off"),
        "What becomes of an orphan, a group groupsync manages that no file declares any more: \
         `off` lists it in every plan and writes nothing; `deactivate` plans `PUT {\"active\": \
         false}` for each one still active (members and assignees left as they are). \
         `--prune` (on `plan`, `apply`, `run`) turns it on. See \
         [When a file goes away](#when-a-file-goes-away).",
    ),
    SettingSpec::key(
        "on_drift",
        "`revert` | `hold`",
        DefaultValue::Text("revert"),
        "What a change made on the pod outside groupsync calls for, while git still declares \
         what was last applied: `revert` puts the declared value back; `hold` leaves it, shows \
         it as held drift, and writes it only on `apply --revert-drift` or once a commit \
         changes the declared value. A group's own `on_drift:` wins.",
    ),
    SettingSpec::limit(Limit::Changes),
    SettingSpec::limit(Limit::Deactivations),
    SettingSpec::limit(Limit::MemberRemovals),
    SettingSpec::key(
        "limits.max_prune_fraction",
        "number, 0 to 1",
        DefaultValue::Number(DEFAULT_MAX_PRUNE_FRACTION),
        "A cycle that would prune more than this share of the groups groupsync manages writes \
         nothing unless `--force` (a groups dir checked out half-way, a bad merge).",
    ),
    SettingSpec::key(
        "retry.max_attempts",
        "integer",
        DefaultValue::Count(DEFAULT_RETRY.max_attempts as u64),
        "Attempts per pod call, the first included; at least 1. See [Retries](#retries).",
    ),
    SettingSpec::key(
        "retry.initial_interval",
        "duration",
        DefaultValue::Duration(DEFAULT_RETRY.initial_interval),
        "The first wait between attempts; not longer than `retry.max_interval`.",
    ),
    SettingSpec::key(
        "retry.multiplier",
        "number",
        DefaultValue::Number(DEFAULT_RETRY.multiplier),
        "Factor between successive waits; at least 1.",
    ),
    SettingSpec::key(
        "retry.max_interval",
        "duration",
        DefaultValue::Duration(DEFAULT_RETRY.max_interval),
        "The longest wait between attempts.",
    ),
    SettingSpec::key(
        "metrics_listen",
        "`IP:PORT` or `HOST:PORT`",
        DefaultValue::Note("none (no listener)"),
        "Where the daemon serves `/metrics`, `/healthz`, `/readyz`, `/plan`, `/plan.json` (see \
         [Metrics and health](#metrics-and-health)). A host name (`localhost:9464`) is resolved \
         when the config is read; its first address is used. `emulate --listen` takes the same \
         forms.",
    ),
    SettingSpec::key(
        "plan_token_file",
        "path",
        DefaultValue::Note("none: `/plan` only on a loopback `metrics_listen`"),
        "A file holding the token `/plan` and `/plan.json` ask for, as `Authorization: Bearer \
         <token>` (one line of visible ASCII, at most 4 KiB; a trailing line break is dropped). \
         Without it they are served only when `metrics_listen` is a loopback address, and \
         answer 403 otherwise. Read at start-up; a change needs a restart. See \
         [Metrics and health](#metrics-and-health).",
    ),
    SettingSpec::key(
        "log.format",
        "`text` | `json`",
        DefaultValue::Text("text"),
        "The shape of log lines on stderr; under systemd, text lines leave out the timestamp the \
         journal adds.",
    )
    .with_flag("log_format"),
    SettingSpec::key(
        "log.level",
        "string",
        DefaultValue::Text(DEFAULT_LOG_LEVEL),
        "A level (`error`, `warn`, `info`, `debug`, `trace`, `off`), or comma-separated \
         `target=level` directives (`groupsync=debug,reqwest=warn`). An empty value counts as \
         not set. Anything else (`verbose`) is an error at start-up and in `validate`.",
    )
    .with_flag("log_level"),
    SettingSpec::key(
        "dry_run",
        "boolean",
        DefaultValue::Bool(false),
        "`true`: `run` never writes to the pod, as with `--dry-run` (`run --once` is then \
         `plan`). A reload (SIGHUP) that turns it off makes the daemon write from the next cycle \
         on; `--dry-run` on the command line cannot be turned off by the config. `plan`, `apply` \
         and `validate` do not read it.",
    ),
    SettingSpec::key(
        "pod.agent_url",
        "URL",
        DefaultValue::Note("the pod URL's origin + `/agent`"),
        "The agent notifications to Symphony rooms are posted through \
         (`{agent_url}/v4/stream/{sid}/message/create`). See [Notifications](#notifications).",
    ),
    SettingSpec::key(
        "pod.key_manager_url",
        "URL",
        DefaultValue::Note("the pod URL's origin + `/relay`"),
        "The key manager an RSA bot logs in to for the agent's `keyManagerToken` \
         (`{key_manager_url}/pubkey/authenticate`, with the same JWT as the pod login).",
    ),
    SettingSpec::key(
        "auth.key_manager_token_file",
        "path",
        DefaultValue::Note("`$CREDENTIALS_DIRECTORY/key-manager-token` if systemd passed one"),
        "A file holding a key manager token, for Symphony targets when groupsync logs in with a \
         session token (an RSA bot logs in to the key manager by itself).",
    ),
    SettingSpec {
        key: None,
        flag: None,
        env: Some("GROUPSYNC_KEY_MANAGER_TOKEN"),
        kind: "key manager token",
        default: DefaultValue::None,
        doc: "A key manager token in the environment; wins over `auth.key_manager_token_file`.",
        limit: None,
        min: Duration::ZERO,
    },
    SettingSpec::key(
        "notify",
        "list of targets",
        DefaultValue::Note("none: no notifications"),
        "Where to tell people what groupsync found and did: `{kind: symphony, stream_id | \
         room_name, events}` or `{kind: webhook, url, secret_file, events}`; `events` defaults to \
         every event. See [Notifications](#notifications).",
    ),
    SettingSpec::key(
        "notify_settings.dedupe",
        "duration",
        DefaultValue::Duration(DEFAULT_DEDUPE),
        "A message whose fingerprint (its event, groups and values; never a time or a count) \
         went to a target this recently is not sent to it again. `0s`: no deduplication.",
    ),
    SettingSpec::key(
        "notify_settings.repeat",
        "duration",
        DefaultValue::Duration(DEFAULT_REPEAT),
        "While cycles keep failing, `cycle_failing` is said again this often.",
    )
    .at_least(MIN_REPEAT),
    SettingSpec::key(
        "notify_settings.flush_timeout",
        "duration",
        DefaultValue::Duration(DEFAULT_FLUSH_TIMEOUT),
        "How long `apply` and `run --once` wait, before they exit, for their notifications to be \
         delivered. The daemon never waits for them.",
    ),
    SettingSpec::key(
        "notify_settings.plan_url",
        "URL",
        DefaultValue::None,
        "Where people can read the whole plan (the daemon's `/plan`, as they reach it); a message \
         cut short to stay within Symphony's limits links to it.",
    ),
    SettingSpec {
        key: None,
        flag: None,
        env: Some("CREDENTIALS_DIRECTORY"),
        kind: "path",
        default: DefaultValue::None,
        doc: "systemd's credentials folder: `session-token` there is the session token file when \
              no other way to log in is set (see [Credentials](#credentials)).",
        limit: None,
        min: Duration::ZERO,
    },
];

/// The row of the config file key `key`.
pub fn setting(key: &str) -> Option<&'static SettingSpec> {
    SETTINGS.iter().find(|spec| spec.key == Some(key))
}

/// The flags of [`Overrides`], as clap sees them (names, variables, values).
pub(super) fn override_flags() -> clap::Command {
    use clap::Args;
    Overrides::augment_args(clap::Command::new("groupsync"))
}

/// `--pod-url / GROUPSYNC_POD_URL`: how errors name the [`Overrides`] field `id`.
pub(super) fn flag_label(id: &str) -> String {
    let command = override_flags();
    let arg = command
        .get_arguments()
        .find(|arg| arg.get_id() == id)
        .unwrap_or_else(|| panic!("Overrides has no field {id}"));
    let long = arg.get_long().unwrap_or(id);
    match arg.get_env() {
        Some(env) => format!("--{long} / {}", env.to_string_lossy()),
        None => format!("--{long}"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_flag_of_overrides_is_in_one_row_and_every_row_names_a_real_flag() {
        let command = override_flags();
        let flags: BTreeSet<&str> = command
            .get_arguments()
            .map(|arg| arg.get_id().as_str())
            .collect();
        let rows: Vec<&str> = SETTINGS.iter().filter_map(|spec| spec.flag).collect();
        let in_rows: BTreeSet<&str> = rows.iter().copied().collect();
        assert_eq!(rows.len(), in_rows.len(), "a flag in two rows: {rows:?}");
        assert_eq!(
            flags, in_rows,
            "the flags of Overrides against the settings table"
        );
    }

    #[test]
    fn keys_are_unique_and_every_row_is_set_somehow() {
        let keys: Vec<&str> = SETTINGS.iter().filter_map(|spec| spec.key).collect();
        let unique: BTreeSet<&str> = keys.iter().copied().collect();
        assert_eq!(keys.len(), unique.len(), "a key twice: {keys:?}");
        for spec in SETTINGS {
            assert!(
                spec.key.is_some() || spec.flag.is_some() || spec.env.is_some(),
                "{spec:?}"
            );
            assert!(
                spec.limit.is_some() == spec.doc.is_empty(),
                "a row has its own doc, or a limit's: {spec:?}"
            );
        }
    }

    /// The fields a struct's derived `Deserialize` accepts, as it names
    /// them to the deserializer (which records them and stops there).
    fn fields_of<T: serde::de::DeserializeOwned>() -> &'static [&'static str] {
        use serde::de::{self, Deserializer, Visitor};
        struct Recorder<'a>(&'a mut &'static [&'static str]);
        impl<'de> Deserializer<'de> for Recorder<'_> {
            type Error = de::value::Error;
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
                Err(de::Error::custom("not a struct"))
            }
            fn deserialize_struct<V: Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Self::Error> {
                *self.0 = fields;
                Err(de::Error::custom("recorded"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
                byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
                enum identifier ignored_any
            }
        }
        let mut fields: &'static [&'static str] = &[];
        let _ = T::deserialize(Recorder(&mut fields));
        assert!(
            !fields.is_empty(),
            "{} has no fields",
            std::any::type_name::<T>()
        );
        fields
    }

    #[test]
    fn the_table_has_exactly_the_keys_the_config_file_accepts() {
        use super::super::file::{
            AuthSection, ConfigFile, JournalSection, LimitsSection, LogSection,
            NotifySettingsSection, PodSection, ProxySection, RetrySection,
        };
        let sections = [
            ("journal", fields_of::<JournalSection>()),
            ("pod", fields_of::<PodSection>()),
            ("proxy", fields_of::<ProxySection>()),
            ("auth", fields_of::<AuthSection>()),
            ("limits", fields_of::<LimitsSection>()),
            ("retry", fields_of::<RetrySection>()),
            ("log", fields_of::<LogSection>()),
            ("notify_settings", fields_of::<NotifySettingsSection>()),
        ];
        let mut accepted = BTreeSet::new();
        for key in fields_of::<ConfigFile>() {
            match sections.iter().find(|(section, _)| section == key) {
                Some((section, fields)) => {
                    accepted.extend(fields.iter().map(|field| format!("{section}.{field}")))
                }
                None => {
                    accepted.insert(key.to_string());
                }
            }
        }
        let documented: BTreeSet<String> = SETTINGS
            .iter()
            .filter_map(|spec| spec.key)
            .map(str::to_string)
            .collect();
        assert_eq!(
            accepted, documented,
            "the config file's keys (left) against the settings table's (right): \
             a new key needs its row in SETTINGS"
        );
    }

    #[test]
    fn errors_name_a_flag_and_its_variable() {
        assert_eq!(flag_label("pod_url"), "--pod-url / GROUPSYNC_POD_URL");
        assert_eq!(flag_label("log_level"), "--log-level / RUST_LOG");
        assert_eq!(flag_label("state_file"), "--state / GROUPSYNC_STATE");
    }
}
