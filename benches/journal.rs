//! The cost of journaling 1,000 writes: 1,000 records appended to a fresh
//! journal (each sealed with its SHA-256 and chained to the one before),
//! then one fsync, as a cycle that made 1,000 writes ends. Also the cost of
//! `journal verify` on those 1,000 records.
//!
//! Run: `cargo bench --bench journal` (a few seconds). Prints its figures:
//! the median and the fastest of the runs; asserts nothing about time.

use std::time::{Duration, Instant};

use groupsync::store::journal::{Journal, JournalEntry, JournalRequest, WriteKind, now, verify};
use serde_json::json;

const WRITES: usize = 1_000;
const RUNS: usize = 15;

/// A write as apply journals it: a group's fields before and after, the PUT's body.
fn write_of(index: usize) -> JournalEntry {
    let group = format!("65aa{index:08x}");
    JournalEntry {
        time: now(),
        pod_url: "https://acme.symphony.com/pod".to_string(),
        group_id: group.clone(),
        kind: WriteKind::Group,
        request: JournalRequest {
            method: "PUT".to_string(),
            path: format!("/v2/admin/usergroups/{group}"),
            body: json!({"area": "EMEA", "description": "Compliance desk, EMEA"}),
        },
        status: 200,
        before: json!({"id": group, "name": format!("Desk {index}"), "area": "APAC", "active": true}),
        after: json!({"id": group, "name": format!("Desk {index}"), "area": "EMEA", "active": true}),
        revision: Some("4f2c1e9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e".to_string()),
        author: Some("Jane Doe <jane@acme.test>".to_string()),
        plan_digest: Some("sha256:9b1f0c".to_string()),
        actor: "bot groupsync-bot".to_string(),
        host: "build-01".to_string(),
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let entries: Vec<JournalEntry> = (0..WRITES).map(write_of).collect();
    let mut journaling = Vec::new();
    let mut verifying = Vec::new();
    let mut bytes = 0;
    for _ in 0..RUNS {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut journal = Journal::open(&path, 64 * 1024 * 1024).unwrap();
        let started = Instant::now();
        for entry in &entries {
            journal.append(entry).unwrap();
        }
        journal.sync().unwrap();
        journaling.push(started.elapsed());
        drop(journal);
        bytes = std::fs::metadata(&path).unwrap().len();
        let started = Instant::now();
        let report = verify(&path).unwrap();
        verifying.push(started.elapsed());
        assert!(report.is_intact() && report.records == WRITES as u64);
    }
    let per_write = median(journaling.clone()).as_secs_f64() * 1e6 / WRITES as f64;
    println!(
        "journaling {WRITES} writes (append each, then one fsync): median {:.1} ms, fastest {:.1} ms \
         ({per_write:.1} µs a write; {:.0} bytes a record, {:.2} MiB in all)",
        median(journaling.clone()).as_secs_f64() * 1e3,
        journaling.iter().min().unwrap().as_secs_f64() * 1e3,
        bytes as f64 / WRITES as f64,
        bytes as f64 / (1024.0 * 1024.0)
    );
    println!(
        "journal verify of those {WRITES} records: median {:.1} ms, fastest {:.1} ms",
        median(verifying.clone()).as_secs_f64() * 1e3,
        verifying.iter().min().unwrap().as_secs_f64() * 1e3
    );
}
