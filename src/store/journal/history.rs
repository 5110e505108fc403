//! `history`: the journal's records, oldest first, of one group or all,
//! over a past period or all time. Reads each file a line at a time and
//! keeps no more than [`HISTORY_CAP`] records (the newest); checks nothing
//! (that is `verify`'s business) and skips what is not a record.

use std::collections::VecDeque;
use std::path::Path;
use std::time::Duration;

use super::JournalError;
use super::files::{Line, Lines, chain_files, open_for_reading};
use super::record::JournalRecord;

/// The most records `history` returns: the newest this many.
pub const HISTORY_CAP: usize = 100_000;

/// The records found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Oldest first.
    pub records: Vec<JournalRecord>,
    /// Records that matched but were older than the newest [`HISTORY_CAP`].
    pub left_out: u64,
    /// Lines that are not records (see `verify`), skipped; a partial last line is not counted.
    pub unreadable: u64,
}

/// The records of the journal at `path` (its rotated files first) about
/// `group` (all groups if `None`) written within `since` of now (all if
/// `None`). No journal yet is no record.
pub fn history(
    path: &Path,
    group: Option<&str>,
    since: Option<Duration>,
) -> Result<History, JournalError> {
    let cutoff = since.map(|since| {
        let since = chrono::TimeDelta::from_std(since).unwrap_or(chrono::TimeDelta::MAX);
        chrono::Utc::now()
            .checked_sub_signed(since)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
    });
    let mut found = VecDeque::new();
    let mut history = History::default();
    for file in chain_files(path)? {
        let mut lines = Lines::new(open_for_reading(&file)?);
        while let Some(line) = lines
            .next_line()
            .map_err(|source| JournalError::io(&file, "read", source))?
        {
            let bytes = match line {
                Line::Whole(bytes) => bytes,
                Line::Unterminated(_) => continue,
                Line::TooLong => {
                    history.unreadable += 1;
                    continue;
                }
            };
            let Ok(record) = serde_json::from_slice::<JournalRecord>(&bytes) else {
                history.unreadable += 1;
                continue;
            };
            if group.is_some_and(|group| record.entry.group_id != group) {
                continue;
            }
            if let Some(cutoff) = cutoff {
                let time = chrono::DateTime::parse_from_rfc3339(&record.entry.time);
                if !time.is_ok_and(|time| time >= cutoff) {
                    continue;
                }
            }
            if found.len() == HISTORY_CAP {
                found.pop_front();
                history.left_out += 1;
            }
            found.push_back(record);
        }
    }
    history.records = found.into();
    Ok(history)
}
