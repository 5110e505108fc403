//! Approval of a held plan. A writing cycle whose plan is over the limits
//! writes nothing and holds the plan: its digest goes to `<state>.held.json`
//! beside the state file (and the daemon serves the plan, digest included,
//! at `/plan`). `groupsync approve DIGEST` checks the digest against the
//! held plan and records who approved it, and when, in
//! `<state>.approval.json` and in the journal. The next writing cycle whose
//! plan has exactly that digest applies it over the limits and uses the
//! approval up; a plan with any other digest is held again and needs an
//! approval of its own.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::Settings;
use crate::config::beside_state;
use crate::config::files::read_regular_file;
use crate::error::{ApprovalError, Error, Refusal, Result};
use crate::model::GroupCounts;
use crate::pipeline::saved::digest::short;
use crate::revision::Revision;
use crate::store::journal::{Journal, JournalEntry, JournalRequest, WriteKind, host_name, now};
use crate::store::state_file::write_atomically;

/// The most read of a held-plan or approval file: they are a few hundred bytes.
const RECORD_CAP: u64 = 64 * 1024;
/// The fewest hex digits `approve` accepts of a digest: as many as plans show.
pub const MIN_DIGITS: usize = 12;

/// A plan a writing cycle refused over its limits (`<state>.held.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldPlan {
    pub digest: String,
    pub pod_url: String,
    pub revision: Option<String>,
    /// The refusal, as the cycle reported it.
    pub refusal: String,
    /// When it was held (RFC 3339, UTC).
    pub held_at: String,
}

/// An approval of one held plan (`<state>.approval.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub digest: String,
    /// The login name of who approved (and `SUDO_USER`'s when run through sudo).
    pub user: String,
    pub uid: u32,
    /// When (RFC 3339, UTC).
    pub time: String,
}

/// `<state>.held.json` beside the state file.
pub fn held_path(settings: &Settings) -> PathBuf {
    beside_state(&settings.state_file, ".held.json")
}

/// `<state>.approval.json` beside the state file.
pub fn approval_path(settings: &Settings) -> PathBuf {
    beside_state(&settings.state_file, ".approval.json")
}

/// A plan the limits refused, as a cycle has it.
pub struct OverLimits<'a> {
    pub digest: &'a str,
    pub revision: Option<&'a Revision>,
    /// Where the declared groups stand (the plan's changes pending).
    pub groups: GroupCounts,
    pub refusal: Refusal,
}

/// A plan over its limits: let through if an approval names its digest
/// (used up by [`applied`] once the plan was carried out, so that a cycle
/// that fails before it writes keeps it), else held for approval and refused.
pub fn consume_or_hold(settings: &Settings, pod_url: &str, over: OverLimits) -> Result<()> {
    let OverLimits {
        digest,
        revision,
        groups,
        refusal,
    } = over;
    let approval_file = approval_path(settings);
    match read_json::<Approval>(&approval_file) {
        Ok(Some(approval)) if approval.digest == digest => {
            tracing::info!(
                digest = short(&approval.digest),
                user = %crate::text::escaped(&approval.user),
                uid = approval.uid,
                approved_at = %approval.time,
                "applying the plan over {}: approved",
                refusal.limit
            );
            return Ok(());
        }
        Ok(Some(approval)) => tracing::warn!(
            "the approval of plan {} is not for this plan ({}): the plan changed since it was \
             approved, and needs an approval of its own",
            short(&approval.digest),
            short(digest)
        ),
        Ok(None) => {}
        Err(error) => tracing::warn!("the approval is not used: {error}"),
    }
    let held = HeldPlan {
        digest: digest.to_string(),
        pod_url: pod_url.to_string(),
        revision: revision.map(Revision::id),
        refusal: refusal.message.clone(),
        held_at: now(),
    };
    if let Err(error) = write_json(&held_path(settings), &held) {
        tracing::warn!("the refused plan cannot be held for approval: {error}");
    }
    Err(Error::Refused {
        refusal,
        groups,
        digest: Some(digest.to_string()),
    })
}

/// A plan was carried out: the held plan and its approval are spent
/// (an approval only ever approves the plan held).
pub fn applied(settings: &Settings) {
    remove(&held_path(settings));
    remove(&approval_path(settings));
}

/// `groupsync approve DIGEST`: approves the held plan if `given` names it
/// (the whole digest, or at least [`MIN_DIGITS`] of its first digits), and
/// journals the approval.
pub fn approve(settings: &Settings, given: &str) -> Result<Approval> {
    let given = given.trim().to_ascii_lowercase();
    if given.len() < MIN_DIGITS || !given.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(ApprovalError::TooShort {
            given: crate::text::escaped(&given).into_owned(),
            min: MIN_DIGITS,
        }
        .into());
    }
    let held_file = held_path(settings);
    let held: HeldPlan = read_json(&held_file)?.ok_or(ApprovalError::NothingHeld {
        held: held_file.clone(),
    })?;
    if !is_digest(&held.digest) {
        return Err(ApprovalError::Unreadable {
            path: held_file,
            reason: "its digest is not 64 hex digits: not a record groupsync wrote; remove it"
                .to_string(),
        }
        .into());
    }
    if !held.digest.starts_with(&given) {
        return Err(ApprovalError::UnknownDigest {
            given,
            held: held.digest,
        }
        .into());
    }
    let (user, uid) = who_am_i();
    let approval = Approval {
        digest: held.digest.clone(),
        user,
        uid,
        time: now(),
    };
    journal_approval(settings, &held, &approval)?;
    write_json(&approval_path(settings), &approval)?;
    Ok(approval)
}

/// 64 lower-case hex digits, as a plan digest is.
fn is_digest(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}

/// The approval's journal record: kind `approval`, no request sent.
fn journal_approval(settings: &Settings, held: &HeldPlan, approval: &Approval) -> Result<()> {
    let mut journal = open_when_free(settings)?;
    let entry = JournalEntry {
        time: approval.time.clone(),
        pod_url: held.pod_url.clone(),
        group_id: String::new(),
        kind: WriteKind::Approval,
        request: JournalRequest {
            method: "APPROVE".to_string(),
            path: String::new(),
            body: json!({"digest": held.digest, "refusal": held.refusal}),
        },
        status: 0,
        before: serde_json::Value::Null,
        after: json!({"digest": approval.digest, "user": approval.user, "uid": approval.uid}),
        revision: held.revision.clone(),
        author: None,
        plan_digest: Some(held.digest.clone()),
        actor: format!("user {} (uid {})", approval.user, approval.uid),
        host: host_name(),
    };
    journal.append(&entry)?;
    journal.sync()?;
    Ok(())
}

/// How long `approve` waits for a cycle that holds the journal (the daemon's) to end.
const JOURNAL_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The journal, waiting up to [`JOURNAL_WAIT`] while a writing cycle holds it.
fn open_when_free(settings: &Settings) -> Result<Journal> {
    let deadline = std::time::Instant::now() + JOURNAL_WAIT;
    loop {
        match Journal::open(&settings.journal_file, settings.journal.max_size) {
            Err(crate::error::JournalError::Locked { .. })
                if std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            opened => return Ok(opened?),
        }
    }
}

/// The login name and uid of whoever runs this (through sudo: `root
/// (sudo by alice)`); names are escaped, they come from the environment.
fn who_am_i() -> (String, u32) {
    // SAFETY: getuid cannot fail and touches no memory of ours.
    let uid = unsafe { libc::getuid() };
    let name = user_name(uid)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| format!("uid {uid}"));
    let name = match std::env::var("SUDO_USER") {
        Ok(by) if !by.is_empty() && by != name => format!("{name} (sudo by {by})"),
        _ => name,
    };
    // Capped and escaped: the names come from the environment.
    (
        crate::revision::capped(&name, crate::revision::TEXT_CAP),
        uid,
    )
}

/// The name `/etc/passwd` (or NSS) gives `uid`.
fn user_name(uid: libc::uid_t) -> Option<String> {
    let mut buffer = vec![0u8; 16 * 1024];
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; the buffer outlives the reads below.
    let result = unsafe {
        libc::getpwuid_r(
            uid,
            &mut entry,
            buffer.as_mut_ptr().cast(),
            buffer.len(),
            &mut found,
        )
    };
    if result != 0 || found.is_null() || entry.pw_name.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r succeeded, so pw_name is a NUL-terminated string in `buffer`.
    let name = unsafe { std::ffi::CStr::from_ptr(entry.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

/// The record at `path`, `None` when there is none.
fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, ApprovalError> {
    let unreadable = |reason: String| ApprovalError::Unreadable {
        path: path.to_path_buf(),
        reason,
    };
    match std::fs::symlink_metadata(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(unreadable(error.to_string())),
        Ok(_) => {}
    }
    let bytes =
        read_regular_file(path, RECORD_CAP).map_err(|error| unreadable(error.to_string()))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|error| unreadable(format!("not a record groupsync wrote ({error}); remove it")))
}

/// Writes `value` to `path` whole or not at all, mode 0600 like the state file.
fn write_json(path: &Path, value: &impl Serialize) -> Result<(), ApprovalError> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("a record always serializes");
    bytes.push(b'\n');
    write_atomically(path, &bytes, 0o600).map_err(|source| ApprovalError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Removes `path`; one that is not there is fine, any other failure is logged.
fn remove(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => tracing::warn!("cannot remove {}: {error}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::config::Overrides;

    const POD: &str = "https://acme.example/pod";

    fn settings(dir: &Path) -> Settings {
        std::fs::create_dir(dir.join("groups.d")).unwrap();
        let overrides = Overrides {
            groups_dir: Some(dir.join("groups.d")),
            state_file: Some(dir.join("state.json")),
            ..Overrides::default()
        };
        Settings::resolve(&overrides).unwrap()
    }

    fn over(digest: &str) -> OverLimits<'_> {
        OverLimits {
            digest,
            revision: None,
            groups: GroupCounts::default(),
            refusal: Refusal {
                limit: "limits.max_changes",
                count: 3,
                max: 1,
                message: "refusing to apply: 3 changes".to_string(),
            },
        }
    }

    fn journal_kinds(settings: &Settings) -> Vec<String> {
        let text = std::fs::read_to_string(&settings.journal_file).unwrap_or_default();
        text.lines()
            .map(|line| {
                serde_json::from_str::<serde_json::Value>(line).unwrap()["kind"].to_string()
            })
            .collect()
    }

    #[test]
    fn only_the_held_digest_can_be_approved() {
        let dir = tempfile::tempdir().unwrap();
        let settings = settings(dir.path());
        let held = "ab".repeat(32);
        assert!(matches!(
            approve(&settings, &held),
            Err(Error::Approval(ApprovalError::NothingHeld { .. }))
        ));
        let refused = consume_or_hold(&settings, POD, over(&held)).unwrap_err();
        assert!(matches!(refused, Error::Refused { digest: Some(ref d), .. } if *d == held));
        assert!(held_path(&settings).ends_with("state.held.json"));

        for (given, short_or_other) in [
            ("abab", true),
            (&"cd".repeat(32)[..], false),
            ("zz".repeat(8).as_str(), true),
        ] {
            let error = approve(&settings, given).unwrap_err();
            match short_or_other {
                true => assert!(
                    matches!(error, Error::Approval(ApprovalError::TooShort { .. })),
                    "{error}"
                ),
                false => assert!(
                    error.to_string().contains(&held),
                    "names the held digest: {error}"
                ),
            }
        }
        assert!(!approval_path(&settings).exists());
        assert!(
            journal_kinds(&settings).is_empty(),
            "nothing journaled for a refused approval"
        );

        // Its first 12 digits are enough.
        let approval = approve(&settings, &held[..12].to_uppercase()).unwrap();
        assert_eq!(approval.digest, held);
        let mode = std::fs::metadata(approval_path(&settings))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(journal_kinds(&settings), ["\"approval\""]);
    }

    #[test]
    fn a_held_plan_whose_digest_is_not_a_digest_is_refused_and_nothing_journaled() {
        let dir = tempfile::tempdir().unwrap();
        let settings = settings(dir.path());
        let forged = format!("{}\u{1b}]0;owned\u{7}", "ab".repeat(32));
        let _ = consume_or_hold(&settings, POD, over(&forged));
        let error = approve(&settings, &"ab".repeat(6)).unwrap_err();
        assert!(error.to_string().contains("not 64 hex digits"), "{error}");
        assert!(!approval_path(&settings).exists());
        assert!(journal_kinds(&settings).is_empty());
    }

    #[test]
    fn an_approval_waits_for_a_cycle_holding_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let settings = settings(dir.path());
        let held = "ab".repeat(32);
        let _ = consume_or_hold(&settings, POD, over(&held));
        let busy = Journal::open(&settings.journal_file, settings.journal.max_size).unwrap();
        // Held past the journal's own half-second patience with a lock, so
        // that only the approval's longer wait lets it through.
        let released = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(1500));
            drop(busy);
        });
        approve(&settings, &held).unwrap();
        released.join().unwrap();
        assert_eq!(journal_kinds(&settings), ["\"approval\""]);
    }

    #[test]
    fn an_approval_lets_through_its_plan_once_and_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let settings = settings(dir.path());
        let approved = "ab".repeat(32);
        let other = "cd".repeat(32);
        let _ = consume_or_hold(&settings, POD, over(&approved));
        approve(&settings, &approved).unwrap();

        assert!(matches!(
            consume_or_hold(&settings, POD, over(&other)),
            Err(Error::Refused { .. })
        ));
        assert!(approval_path(&settings).exists(), "kept for its own plan");
        assert_eq!(
            consume_or_hold(&settings, POD, over(&approved)).ok(),
            Some(())
        );
        assert!(
            approval_path(&settings).exists(),
            "kept until the plan is carried out"
        );
        applied(&settings);
        assert!(!approval_path(&settings).exists(), "used up");
        assert!(!held_path(&settings).exists());
        assert!(
            consume_or_hold(&settings, POD, over(&approved)).is_err(),
            "only once"
        );
    }
}
