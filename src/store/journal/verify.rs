//! `verify`: walks every file of the chain in order (rotated ones first),
//! checking each line's own seal and its link to the line before, and names
//! the first altered line (1-based, in its file):
//!
//! - a line whose bytes no longer match its `hash`: **that line** was changed;
//! - a line whose `prev` does not match the line before, while its `seq`
//!   follows on: **the line before** was changed (and its `hash` recomputed);
//! - a `seq` that jumps: records before this line were removed;
//! - a `seq` that goes back: lines were moved or added;
//! - a first record that is not record 1: the start of the chain was removed.
//!
//! A partial last line (a write cut short by a crash) is a warning.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::JournalError;
use super::files::{Line, Lines, chain_files, open_for_reading};
use super::record::{GENESIS, JournalRecord, MAX_LINE, Unsealed, sha256_hex, unseal};

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// The files walked, oldest first.
    pub files: Vec<PathBuf>,
    /// The records found intact (before the problem, if there is one).
    pub records: u64,
    /// The first altered line; `None` when the chain is intact.
    pub problem: Option<Finding>,
    /// What does not break the chain: a partial last line.
    pub warnings: Vec<Finding>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}

/// A line of a file and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub file: PathBuf,
    /// 1-based, in `file`.
    pub line: u64,
    /// `kind` and its fields, in JSON.
    #[serde(flatten)]
    pub kind: FindingKind,
    /// What [`FindingKind`] says, in words.
    pub message: String,
}

/// `FILE:LINE: message`
impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// What is wrong with a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum FindingKind {
    /// Its bytes no longer match its own `hash`.
    Changed,
    /// Its `hash` was recomputed, but the next line's `prev` still holds the old one.
    ChangedAndResealed,
    /// It is not a record at all (edited past parsing, or added by hand).
    NotARecord { reason: String },
    /// The `seq` before it was `after`; this one is `seq`: the records between were removed.
    Removed { after: u64, seq: u64 },
    /// Its `seq` does not follow the line before it.
    OutOfOrder { after: u64, seq: u64 },
    /// The chain's first record is `seq`, not 1.
    StartsLate { seq: u64 },
    /// A rotated file ends in it without a line end.
    CutShort,
    /// Longer than any record.
    TooLong,
    /// Warning: the last bytes of the journal, without a line end (a crash).
    PartialLastLine { bytes: usize },
    /// Warning: the last record lost only its line end (a crash right after writing it).
    NoLineEnd,
}

impl FindingKind {
    fn message(&self) -> String {
        const CHANGED: &str = "this line was changed after it was written";
        match self {
            FindingKind::Changed => format!("{CHANGED} (it no longer matches its hash)"),
            FindingKind::ChangedAndResealed => {
                format!(
                    "{CHANGED} (its hash was recomputed, but the next line still chains to the old one)"
                )
            }
            FindingKind::NotARecord { reason } => {
                format!("{CHANGED}, or added by hand: {reason}")
            }
            FindingKind::Removed { after, seq } => {
                let count = seq - after - 1;
                let records = match count {
                    1 => "1 record before this line was".to_string(),
                    count => format!("{count} records before this line were"),
                };
                format!("{records} removed (record {after}, then record {seq})")
            }
            FindingKind::OutOfOrder { after, seq } => format!(
                "this line is out of place (record {seq} after record {after}): lines were \
                 moved, copied or added"
            ),
            FindingKind::StartsLate { seq } => format!(
                "the chain starts here at record {seq}, not 1: the records before it were \
                 removed, or an older rotated file is missing"
            ),
            FindingKind::CutShort => {
                "this line was cut short: the rotated file ends without a line end".to_string()
            }
            FindingKind::TooLong => {
                format!(
                    "{CHANGED}, or added by hand: it is longer than any record ({MAX_LINE} bytes)"
                )
            }
            FindingKind::PartialLastLine { bytes } => format!(
                "a partial last line ({bytes} bytes, no line end): a write cut short by a crash; \
                 the next writing cycle sets it aside and continues the chain"
            ),
            FindingKind::NoLineEnd => "the last record has no line end (a crash right after \
                 writing it); the next writing cycle completes it"
                .to_string(),
        }
    }
}

/// Checks the whole chain of the journal at `path`: its rotated files,
/// then it. A missing journal is [`JournalError::NotFound`].
pub fn verify(path: &Path) -> Result<VerifyReport, JournalError> {
    // A rotation while walking would hide a file: walk again if the files changed.
    let mut attempts = 0;
    loop {
        let files = chain_files(path)?;
        if files.is_empty() {
            return Err(JournalError::NotFound {
                path: path.to_path_buf(),
            });
        }
        let report = walk(files)?;
        attempts += 1;
        if attempts == 3 || chain_files(path)? == report.files {
            return Ok(report);
        }
    }
}

/// The last line checked: where it is, its `seq`, and its SHA-256.
struct Previous {
    file: PathBuf,
    line: u64,
    seq: u64,
    hash: String,
}

/// Which line is to blame for a broken link.
enum Blame {
    This(FindingKind),
    Previous(FindingKind),
}

fn walk(files: Vec<PathBuf>) -> Result<VerifyReport, JournalError> {
    let mut report = VerifyReport {
        files: files.clone(),
        records: 0,
        problem: None,
        warnings: Vec::new(),
    };
    let mut previous: Option<Previous> = None;
    for (index, file) in files.iter().enumerate() {
        let last_file = index + 1 == files.len();
        let mut lines = Lines::new(open_for_reading(file)?);
        let mut number = 0;
        while let Some(line) = lines
            .next_line()
            .map_err(|source| JournalError::io(file, "read", source))?
        {
            number += 1;
            let finding = |kind: FindingKind| Finding {
                file: file.clone(),
                line: number,
                message: kind.message(),
                kind,
            };
            let bytes = match line {
                Line::Whole(bytes) => bytes,
                Line::TooLong => {
                    report.problem = Some(finding(FindingKind::TooLong));
                    return Ok(report);
                }
                Line::Unterminated(_) if !last_file => {
                    report.problem = Some(finding(FindingKind::CutShort));
                    return Ok(report);
                }
                Line::Unterminated(bytes) => {
                    let warning = match check(&bytes, previous.as_ref()) {
                        Ok(_) => {
                            report.records += 1;
                            FindingKind::NoLineEnd
                        }
                        Err(_) => FindingKind::PartialLastLine { bytes: bytes.len() },
                    };
                    report.warnings.push(finding(warning));
                    break;
                }
            };
            match check(&bytes, previous.as_ref()) {
                Ok(record) => {
                    report.records += 1;
                    previous = Some(Previous {
                        file: file.clone(),
                        line: number,
                        seq: record.seq,
                        hash: sha256_hex(&bytes),
                    });
                }
                Err(Blame::This(kind)) => {
                    report.problem = Some(finding(kind));
                    return Ok(report);
                }
                Err(Blame::Previous(kind)) => {
                    let previous = previous.expect("only a line after another blames it");
                    report.records -= 1;
                    report.problem = Some(Finding {
                        file: previous.file,
                        line: previous.line,
                        message: kind.message(),
                        kind,
                    });
                    return Ok(report);
                }
            }
        }
    }
    Ok(report)
}

/// Checks one line against its own seal and the line before it.
fn check(bytes: &[u8], previous: Option<&Previous>) -> Result<JournalRecord, Blame> {
    let record = match unseal(bytes) {
        Unsealed::Intact(record) => record,
        Unsealed::Changed(_) => return Err(Blame::This(FindingKind::Changed)),
        Unsealed::NotARecord(reason) => {
            return Err(Blame::This(FindingKind::NotARecord { reason }));
        }
    };
    let seq = record.seq;
    let Some(previous) = previous else {
        return match (seq, record.prev == GENESIS) {
            (1, true) => Ok(record),
            (1, false) => Err(Blame::This(FindingKind::ChangedAndResealed)),
            (seq, _) => Err(Blame::This(FindingKind::StartsLate { seq })),
        };
    };
    let after = previous.seq;
    let follows = Some(seq) == after.checked_add(1);
    match (record.prev == previous.hash, follows) {
        (true, true) => Ok(record),
        // Chained right, numbered wrong: this line's `seq` was edited, and it resealed.
        (true, false) => Err(Blame::This(FindingKind::ChangedAndResealed)),
        (false, true) => Err(Blame::Previous(FindingKind::ChangedAndResealed)),
        (false, false) if seq > after => Err(Blame::This(FindingKind::Removed { after, seq })),
        (false, false) => Err(Blame::This(FindingKind::OutOfOrder { after, seq })),
    }
}
