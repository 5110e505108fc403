//! One journal line: a [`JournalRecord`], sealed with the hash of its own
//! bytes and chained to the line before it.
//!
//! A line is compact JSON, its fields always in this order:
//! `seq`, then the write ([`JournalEntry`]: `time`, `pod_url`, `group_id`,
//! `kind`, `request`, `status`, `before`, `after`, `revision`, `author`,
//! `plan_digest`, `actor`, `host`), then `prev` and last `hash`.
//!
//! - `seq` counts the records of the whole chain from 1, across rotations.
//! - `prev` is the SHA-256 (lower-case hex) of the previous line's bytes,
//!   its line end left out; [`GENESIS`] for the very first.
//! - `hash` is the SHA-256 of the line as it would read without its
//!   `,"hash":"..."`: the bytes up to that point, then `}`.
//!
//! So an edited line fails its own `hash`; an edited line whose `hash` was
//! recomputed fails the next line's `prev`, while `seq` still runs on (the
//! line was changed, not removed); a removed line leaves a gap in `seq`.

use aws_lc_rs::digest;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `prev` of the first record of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The most bytes a line may hold (its line end left out). A write's record
/// is far smaller: a group's fields before and after, and one request body.
pub const MAX_LINE: usize = crate::error::JOURNAL_MAX_LINE;

/// What comes after the sealed bytes: `,"hash":"` + 64 hex digits + `"}`.
const SEAL_LEN: usize = HASH_KEY.len() + 64 + 2;
const HASH_KEY: &str = ",\"hash\":\"";

/// The resource kind a write touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteKind {
    /// A group's own fields (an update or a create).
    Group,
    /// A member added or removed.
    Membership,
    /// An assignee added or removed.
    Assignment,
    /// A held plan approved (`groupsync approve`): no request was sent.
    Approval,
}

impl WriteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WriteKind::Group => "group",
            WriteKind::Membership => "membership",
            WriteKind::Assignment => "assignment",
            WriteKind::Approval => "approval",
        }
    }
}

/// The request as sent. The body is what groupsync sent the pod: it never
/// holds a token (those travel in headers, which are not recorded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalRequest {
    pub method: String,
    /// The path and query, without the pod URL.
    pub path: String,
    /// `null` when the request had no body.
    pub body: Value,
}

/// One write, as the caller describes it; [`super::Journal::append`] adds
/// `seq`, `prev` and `hash`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// When the answer arrived: RFC 3339 in UTC with milliseconds ([`now`]).
    pub time: String,
    pub pod_url: String,
    pub group_id: String,
    pub kind: WriteKind,
    pub request: JournalRequest,
    /// The answer's HTTP status.
    pub status: u16,
    /// The resource before the write, as the snapshot had it (`null`: none, a create).
    pub before: Value,
    /// The resource after it, as the pod answered (`null` when it did not say).
    pub after: Value,
    /// The revision of the groups dir (`commit`, or `commit-dirty`; see `Revision::id`).
    pub revision: Option<String>,
    /// The author of that commit, `Name <email>`.
    pub author: Option<String>,
    /// The digest of the plan the write belongs to, when there is one.
    pub plan_digest: Option<String>,
    /// Who wrote: `bot USERNAME` or `session token` (`PodClient::actor`);
    /// for an approval, `user NAME (uid N)`.
    pub actor: String,
    /// The host groupsync ran on ([`host_name`]).
    pub host: String,
}

/// A line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalRecord {
    /// 1 for the first record of the chain, then one more each line.
    pub seq: u64,
    #[serde(flatten)]
    pub entry: JournalEntry,
    /// The SHA-256 of the previous line, or [`GENESIS`].
    pub prev: String,
    /// The SHA-256 of this line without its `hash`.
    pub hash: String,
}

/// The time now, as a record's `time`: `2025-03-01T09:30:00.123Z`.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// This machine's host name (`unknown` if it has none), escaped.
pub fn host_name() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that.
    let result = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    let end = buffer.iter().position(|b| *b == 0).unwrap_or(buffer.len());
    match result {
        0 if end > 0 => crate::text::escaped(&String::from_utf8_lossy(&buffer[..end])).into_owned(),
        _ => "unknown".to_string(),
    }
}

/// `bytes` in lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut hex = String::with_capacity(2 * bytes.len());
    for byte in bytes {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, bytes).as_ref())
}

/// The record `seq` of `entry`, chained to `prev`, as its line (without
/// the line end), with the record itself.
pub fn seal(seq: u64, entry: &JournalEntry, prev: &str) -> (Vec<u8>, JournalRecord) {
    #[derive(Serialize)]
    struct Unsealed<'a> {
        seq: u64,
        #[serde(flatten)]
        entry: &'a JournalEntry,
        prev: &'a str,
    }
    let unsealed = Unsealed { seq, entry, prev };
    let mut line = serde_json::to_vec(&unsealed).expect("a record serializes");
    let hash = sha256_hex(&line);
    line.pop(); // the closing `}`
    line.extend_from_slice(HASH_KEY.as_bytes());
    line.extend_from_slice(hash.as_bytes());
    line.extend_from_slice(b"\"}");
    let record = JournalRecord {
        seq,
        entry: entry.clone(),
        prev: prev.to_string(),
        hash,
    };
    (line, record)
}

/// What a line is, read back.
#[derive(Debug)]
pub enum Unsealed {
    /// A record whose `hash` matches its bytes.
    Intact(JournalRecord),
    /// A record whose bytes no longer match its `hash`.
    Changed(JournalRecord),
    /// Not a record at all; the reason.
    NotARecord(String),
}

/// Reads `line` (without its line end) back and checks its seal.
pub fn unseal(line: &[u8]) -> Unsealed {
    let record = match serde_json::from_slice::<JournalRecord>(line) {
        Ok(record) => record,
        Err(error) => return Unsealed::NotARecord(not_a_record(line, &error)),
    };
    let Some(sealed) = sealed_part(line, &record.hash) else {
        return Unsealed::NotARecord("its `hash` is not its last field".to_string());
    };
    let mut bytes = sealed.to_vec();
    bytes.push(b'}');
    match sha256_hex(&bytes) == record.hash {
        true => Unsealed::Intact(record),
        false => Unsealed::Changed(record),
    }
}

/// The bytes before `,"hash":"HASH"}` at the end of `line`, if it ends so.
fn sealed_part<'l>(line: &'l [u8], hash: &str) -> Option<&'l [u8]> {
    let seal = format!("{HASH_KEY}{hash}\"}}");
    let valid = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    (valid && line.len() > SEAL_LEN && line.ends_with(seal.as_bytes()))
        .then(|| &line[..line.len() - SEAL_LEN])
}

fn not_a_record(line: &[u8], error: &serde_json::Error) -> String {
    if line.is_empty() {
        "it is empty".to_string()
    } else if std::str::from_utf8(line).is_err() {
        "it is not UTF-8 text".to_string()
    } else {
        // serde's message names a field or a position, never the line's text.
        format!("not a journal record ({error})")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;

    /// A write of group `group`, as the tests journal it.
    pub fn entry(group: &str) -> JournalEntry {
        JournalEntry {
            time: "2025-03-01T09:30:00.123Z".to_string(),
            pod_url: "https://acme.symphony.com/pod".to_string(),
            group_id: group.to_string(),
            kind: WriteKind::Group,
            request: JournalRequest {
                method: "PUT".to_string(),
                path: format!("/v2/admin/usergroups/{group}"),
                body: json!({"area": "EMEA"}),
            },
            status: 200,
            before: json!({"id": group, "area": "APAC"}),
            after: json!({"id": group, "area": "EMEA"}),
            revision: Some("a".repeat(40)),
            author: Some("Jane Doe <jane@acme.test>".to_string()),
            plan_digest: None,
            actor: "bot groupsync-bot".to_string(),
            host: "build-01".to_string(),
        }
    }

    #[test]
    fn a_line_keeps_its_fields_in_order_and_its_seal_last() {
        let (line, record) = seal(1, &entry("g1"), GENESIS);
        let text = String::from_utf8(line.clone()).unwrap();
        let expected_start = format!(
            concat!(
                r#"{{"seq":1,"time":"2025-03-01T09:30:00.123Z","pod_url":"https://acme.symphony.com/pod","#,
                r#""group_id":"g1","kind":"group","request":{{"method":"PUT","path":"/v2/admin/usergroups/g1","#,
                r#""body":{{"area":"EMEA"}}}},"status":200,"before":{{"area":"APAC","id":"g1"}},"#,
                r#""after":{{"area":"EMEA","id":"g1"}},"revision":"{}","author":"Jane Doe <jane@acme.test>","#,
                r#""plan_digest":null,"actor":"bot groupsync-bot","host":"build-01","prev":"{}","hash":""#
            ),
            "a".repeat(40),
            GENESIS
        );
        assert!(text.starts_with(&expected_start), "{text}");
        assert!(text.ends_with(&format!("{}\"}}", record.hash)), "{text}");
        assert!(!text.contains('\n'));
        match unseal(&line) {
            Unsealed::Intact(read) => assert_eq!(read, record),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_edited_byte_breaks_the_seal_and_garbage_is_no_record() {
        let (line, _) = seal(7, &entry("g1"), GENESIS);
        let text = String::from_utf8(line).unwrap();
        let edited = text.replace("\"EMEA\"}}", "\"EMEB\"}}");
        assert_ne!(edited, text);
        assert!(matches!(unseal(edited.as_bytes()), Unsealed::Changed(record) if record.seq == 7));
        for (garbage, reason) in [
            (&b""[..], "it is empty"),
            (b"\xff\xfe", "not UTF-8"),
            (b"{\"seq\": 1}", "not a journal record (missing field"),
        ] {
            match unseal(garbage) {
                Unsealed::NotARecord(found) => assert!(found.contains(reason), "{found}"),
                other => panic!("{other:?}"),
            }
        }
        // A `hash` moved off the end.
        let moved = text.replacen("{\"seq\":7,", "{\"hash\":\"x\",\"seq\":7,", 1);
        assert!(matches!(unseal(moved.as_bytes()), Unsealed::NotARecord(_)));
    }

    #[test]
    fn the_digest_is_sha256() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(GENESIS.len(), 64);
    }
}
