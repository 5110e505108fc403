//! Reads a state file as it streams in, one group at a time.
//!
//! A state file of 100,000 groups is tens of megabytes. `serde_json` reads
//! a slice about twice as fast as a reader, but a slice of the whole file
//! would hold it in memory beside the snapshot made of it. So this reader
//! walks the document's outline itself (the top-level keys, and the entries
//! of `groups`) through a window onto the file, and hands each value, a
//! slice of a few hundred bytes, to `serde_json`. The window grows only for
//! a value larger than itself (a group with a long member list).
//!
//! It accepts exactly the documents [`Snapshot::from_json`] accepts: the
//! outline it checks itself (braces, colons, commas, string keys, nothing
//! after the end), and `serde_json` checks each value whole. On any error
//! it only says that the file did not read; the caller reads it again
//! whole to say what is wrong.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read};
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::snapshot::{AppliedPlan, Snapshot, SnapshotEntry, check_version_value};
use crate::model::{Text, UserId};

/// How much of the file is read at a time.
const WINDOW: usize = 1 << 20;

/// The state file did not read as a snapshot (or as a file): read it again
/// whole for the reason.
#[derive(Debug)]
pub struct Unreadable;

impl From<io::Error> for Unreadable {
    fn from(_: io::Error) -> Self {
        Unreadable
    }
}

impl From<serde_json::Error> for Unreadable {
    fn from(_: serde_json::Error) -> Self {
        Unreadable
    }
}

/// The top-level values of a state file as written, each at most once
/// (`Some` once seen; `pod_url` and `last_applied` may be `null`).
#[derive(Default)]
struct Document {
    version: Option<Option<serde_json::Value>>,
    pod_url: Option<Option<String>>,
    last_applied: Option<Option<AppliedPlan>>,
    groups: Option<BTreeMap<Text, Box<SnapshotEntry>>>,
    users: Option<BTreeMap<String, UserId>>,
}

/// Reads the whole document from `reader`.
fn read_document(reader: impl Read) -> Result<Document, Unreadable> {
    let mut window = Window::new(reader);
    let mut document = Document::default();
    window.object(|window, key: String| read_top_level_value(window, &key, &mut document))?;
    window.expect_end()?;
    Ok(document)
}

/// Reads the value of top-level key `key` into `document`; an unknown key,
/// or one seen before, is an error (as the whole reader's `deny_unknown_fields`).
fn read_top_level_value<R: Read>(
    window: &mut Window<R>,
    key: &str,
    document: &mut Document,
) -> Result<(), Unreadable> {
    fn once<T>(slot: &mut Option<T>, value: T) -> Result<(), Unreadable> {
        match slot.replace(value) {
            None => Ok(()),
            Some(_) => Err(Unreadable),
        }
    }
    match key {
        "version" => once(&mut document.version, window.value()?),
        "pod_url" => once(&mut document.pod_url, window.value()?),
        "last_applied" => once(&mut document.last_applied, window.value()?),
        "groups" => once(&mut document.groups, read_groups(window)?),
        "users" => once(&mut document.users, window.value()?),
        _ => Err(Unreadable),
    }
}

/// The `groups` object, one entry at a time; a group id written twice keeps
/// its last entry, as a map read whole does.
fn read_groups<R: Read>(
    window: &mut Window<R>,
) -> Result<BTreeMap<Text, Box<SnapshotEntry>>, Unreadable> {
    let mut groups = Vec::new();
    let mut files = HashSet::new();
    window.object(|window, id: Text| {
        let mut entry: SnapshotEntry = window.value()?;
        if let Some(managed) = &mut entry.managed {
            managed.file = shared(&mut files, &managed.file);
        }
        groups.push((id, Box::new(entry)));
        Ok(())
    })?;
    // Built whole: the file is sorted by id, so this is one pass that fills
    // every node (a map grown one id at a time leaves its nodes half empty);
    // of two entries with one id it keeps the last.
    Ok(BTreeMap::from_iter(groups))
}

/// One copy of each file name, however many groups name it.
fn shared(files: &mut HashSet<Arc<str>>, file: &Arc<str>) -> Arc<str> {
    match files.get(file) {
        Some(known) => Arc::clone(known),
        None => {
            files.insert(Arc::clone(file));
            Arc::clone(file)
        }
    }
}

/// A window onto the file: `buffer[start..end]` is read and not yet taken.
struct Window<R> {
    reader: R,
    buffer: Vec<u8>,
    start: usize,
    end: usize,
    at_eof: bool,
}

impl<R: Read> Window<R> {
    fn new(reader: R) -> Self {
        Window {
            reader,
            buffer: vec![0; WINDOW],
            start: 0,
            end: 0,
            at_eof: false,
        }
    }

    /// Reads more of the file behind what is not yet taken, making room
    /// first, until the window is full; false at the end of the file. A
    /// full window keeps rescanning a long value linear in its length.
    fn fill(&mut self) -> io::Result<bool> {
        if self.at_eof {
            return Ok(false);
        }
        if self.start > 0 {
            self.buffer.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buffer.len() {
            // One value is larger than the window: make it larger.
            self.buffer.resize(self.buffer.len() * 2, 0);
        }
        let before = self.end;
        while self.end < self.buffer.len() {
            match self.reader.read(&mut self.buffer[self.end..]) {
                Ok(0) => {
                    self.at_eof = true;
                    break;
                }
                Ok(read) => self.end += read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(self.end > before)
    }

    /// The next byte that is not JSON whitespace, not taken; `None` at the end.
    fn peek(&mut self) -> io::Result<Option<u8>> {
        loop {
            while self.start < self.end {
                match self.buffer[self.start] {
                    b' ' | b'\t' | b'\n' | b'\r' => self.start += 1,
                    byte => return Ok(Some(byte)),
                }
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), Unreadable> {
        if self.peek()? != Some(byte) {
            return Err(Unreadable);
        }
        self.start += 1;
        Ok(())
    }

    /// Takes `byte` if it comes next.
    fn next_is(&mut self, byte: u8) -> Result<bool, Unreadable> {
        let is = self.peek()? == Some(byte);
        if is {
            self.start += 1;
        }
        Ok(is)
    }

    /// After a member: true for a `,` (another follows), false for `close`.
    fn more(&mut self, close: u8) -> Result<bool, Unreadable> {
        match self.peek()? {
            Some(b',') => {
                self.start += 1;
                Ok(true)
            }
            Some(byte) if byte == close => {
                self.start += 1;
                Ok(false)
            }
            _ => Err(Unreadable),
        }
    }

    /// Nothing but whitespace is left.
    fn expect_end(&mut self) -> Result<(), Unreadable> {
        match self.peek()? {
            None => Ok(()),
            Some(_) => Err(Unreadable),
        }
    }

    /// An object, `{` to `}`: each member's key (decoded as `K`) is handed
    /// to `member`, which reads the member's value.
    fn object<K: DeserializeOwned>(
        &mut self,
        mut member: impl FnMut(&mut Self, K) -> Result<(), Unreadable>,
    ) -> Result<(), Unreadable> {
        self.expect(b'{')?;
        if self.next_is(b'}')? {
            return Ok(());
        }
        loop {
            let key = self.key()?;
            self.expect(b':')?;
            member(self, key)?;
            if !self.more(b'}')? {
                return Ok(());
            }
        }
    }

    /// A member's key: a JSON string, its escapes decoded.
    fn key<K: DeserializeOwned>(&mut self) -> Result<K, Unreadable> {
        if self.peek()? != Some(b'"') {
            return Err(Unreadable);
        }
        self.value()
    }

    /// The next value, whole, as `T`.
    fn value<T: DeserializeOwned>(&mut self) -> Result<T, Unreadable> {
        self.peek()?.ok_or(Unreadable)?;
        let length = loop {
            match value_length(&self.buffer[self.start..self.end], self.at_eof) {
                Some(length) => break length,
                None if self.fill()? => {}
                None => return Err(Unreadable),
            }
        };
        let slice = &self.buffer[self.start..self.start + length];
        let value = serde_json::from_slice(slice)?;
        self.start += length;
        Ok(value)
    }
}

/// The length of the JSON value `bytes` starts with, by its outline only
/// (`serde_json` checks it whole afterwards); `None` when it does not end
/// within `bytes`.
fn value_length(bytes: &[u8], at_eof: bool) -> Option<usize> {
    match bytes.first()? {
        b'"' => string_length(bytes),
        b'{' | b'[' => nested_length(bytes),
        _ => {
            // A number, `true`, `false` or `null`: up to the next delimiter.
            let end = bytes
                .iter()
                .position(|byte| matches!(byte, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'));
            match end {
                Some(end) => Some(end),
                None if at_eof => Some(bytes.len()),
                None => None,
            }
        }
    }
}

/// The length of the string `bytes` starts with, quotes included.
fn string_length(bytes: &[u8]) -> Option<usize> {
    let mut index = 1;
    loop {
        index += memchr::memchr2(b'"', b'\\', bytes.get(index..)?)?;
        if bytes[index] == b'"' {
            return Some(index + 1);
        }
        index += 2;
    }
}

/// The length of the object or array `bytes` starts with, up to the bracket
/// that closes it (strings skipped whole, so brackets in them do not count).
/// Jumps from quote to quote: most of a state file is strings.
fn nested_length(bytes: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut index = 0;
    loop {
        let quote = memchr::memchr(b'"', &bytes[index..]).map_or(bytes.len(), |at| index + at);
        for (offset, byte) in bytes[index..quote].iter().enumerate() {
            match byte {
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(index + offset + 1);
                    }
                }
                _ => {}
            }
        }
        if quote == bytes.len() {
            return None;
        }
        index = quote + string_length(&bytes[quote..])?;
    }
}

impl Snapshot {
    /// Parses the state file as it is read, without holding its text (see
    /// the module's notes); any error only says that it did not read.
    pub fn from_reader(reader: impl Read) -> Result<Snapshot, Unreadable> {
        let document = read_document(reader)?;
        check_version_value(document.version.flatten().as_ref()).map_err(|_| Unreadable)?;
        Ok(Snapshot::from_parts(
            document.pod_url.flatten(),
            document.groups.ok_or(Unreadable)?,
            document.users.unwrap_or_default(),
            document.last_applied.flatten(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `text` both ways: the streamed reader must agree with the whole one.
    fn both_ways(text: &str) -> (Option<Snapshot>, Option<Snapshot>) {
        let streamed = Snapshot::from_reader(text.as_bytes()).ok();
        let whole = Snapshot::from_json(text).ok();
        (streamed, whole)
    }

    #[test]
    fn the_streamed_reader_agrees_with_the_whole_one() {
        let documents = [
            r#"{"version": 1, "groups": {}}"#,
            r#"{"groups": {}, "version": 1}"#,
            r#" {"version":1,"pod_url":"https://p/pod","groups":{"g1":{"pod":{"id":"g1","name":"a \"b\" {c}"},"read_at_ms":1,"written_at_ms":null}},"users":{"alice":7}} "#,
            r#"{"version": 1, "pod_url": null, "last_applied": null, "groups": {}}"#,
            r#"{"version": 1, "groups": {"g1": {"pod": {"id": "g1"}}, "g1": {"pod": {"id": "second"}}}}"#,
            r#"{"version": 1, "groups": {"g\u0031": {"pod": {"id": "g1"}, "members": {"users": {"5": "e"}, "read_at_ms": 2}}}}"#,
            r#"{"version": 1, "last_applied": {"revision": null, "digest": "d", "at_ms": 3}, "groups": {}}"#,
        ];
        for text in documents {
            let (streamed, whole) = both_ways(text);
            assert!(whole.is_some(), "{text}");
            assert_eq!(streamed, whole, "{text}");
        }
    }

    #[test]
    fn whatever_the_whole_reader_refuses_the_streamed_one_refuses_too() {
        let documents = [
            "",
            "{",
            r#"{"version": 1}"#,
            r#"{"version": 2, "groups": {}}"#,
            r#"{"groups": {}}"#,
            r#"{"version": 1, "groups": {}} x"#,
            r#"{"version": 1, "groups": {}}}"#,
            r#"{"version": 1, "groups": {},}"#,
            r#"{"version": 1, "groups": {"g1": {"pod": {}},}}"#,
            r#"{"version": 1, "version": 1, "groups": {}}"#,
            r#"{"version": 1, "groups": {}, "extra": 0}"#,
            r#"{"version": 1, "groups": {"g1": {"pod": {"id": "g1"]}}}"#,
            r#"{"version": 1, "groups": {"g1": {"read_at_ms": 1}}}"#,
            r#"{"version": 1, "groups": {"g1" {"pod": {}}}}"#,
            r#"{"version": 1 "groups": {}}"#,
            r#"{"version": 1, "groups": {g1: {"pod": {}}}}"#,
            r#"{"version": 1, "groups": {"g1": {"pod": {"id": "\q"}}}}"#,
            r#"{"version": 1, "groups": []}"#,
            r#"{"version": 1, "groups": {"g1": {"pod": {}, "junk": 1}}}"#,
            r#"{"version": 1e0, "groups": {}}"#,
            r#"{"version": tru, "groups": {}}"#,
        ];
        for text in documents {
            let (streamed, whole) = both_ways(text);
            assert!(whole.is_none(), "the whole reader took {text}");
            assert!(streamed.is_none(), "the streamed reader took {text}");
        }
    }

    #[test]
    fn a_value_larger_than_the_window_is_read_whole() {
        let users: Vec<String> = (0..120_000)
            .map(|index| format!("\"{index}\": \"user.{index}\""))
            .collect();
        let text = format!(
            r#"{{"version": 1, "groups": {{"g1": {{"pod": {{"id": "g1"}}, "members": {{"users": {{{}}}, "read_at_ms": 1}}}}}}}}"#,
            users.join(", ")
        );
        assert!(text.len() > 2 * WINDOW);
        let (streamed, whole) = both_ways(&text);
        assert!(whole.is_some());
        assert_eq!(streamed, whole);
    }

    #[test]
    fn the_groups_one_file_declares_share_one_copy_of_its_name() {
        let managed = r#""managed": {"how": "declared", "since_ms": 1, "file": "groups.d/a.yaml", "applied": {}}"#;
        let text = format!(
            r#"{{"version": 1, "groups": {{"g1": {{"pod": {{}}, {managed}}}, "g2": {{"pod": {{}}, {managed}}}}}}}"#
        );
        let snapshot = Snapshot::from_reader(text.as_bytes()).unwrap();
        let (first, second) = (
            snapshot.managed("g1").unwrap(),
            snapshot.managed("g2").unwrap(),
        );
        assert_eq!(&*first.file, "groups.d/a.yaml");
        assert!(Arc::ptr_eq(&first.file, &second.file));
    }

    #[test]
    fn a_file_read_a_byte_at_a_time_reads_the_same() {
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
                let Some((first, rest)) = self.0.split_first() else {
                    return Ok(0);
                };
                buffer[0] = *first;
                self.0 = rest;
                Ok(1)
            }
        }
        let text = r#"{"version": 1, "groups": {"g1": {"pod": {"id": "g1", "memberCount": 12}, "read_at_ms": 1700000000000}}, "users": {"a": 1}}"#;
        let streamed = Snapshot::from_reader(Trickle(text.as_bytes())).unwrap();
        assert_eq!(streamed, Snapshot::from_json(text).unwrap());
    }
}
