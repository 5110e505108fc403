//! Ids and names claimed twice across a tree. A group that an earlier one
//! (in walk order) already claims gets an error at its own position.
//!
//! The claims are tables of the groups' numbers in the tree, hashed by the
//! text each stands for: tables of `&str` keys took 8 MB while a tree of
//! 100,000 groups loaded, these take 1.3.

use std::hash::{BuildHasher, RandomState};
use std::path::Path;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use crate::error::Diagnostic;
use crate::model::GroupKey;

use super::FileReport;
use super::groups::ParsedGroup;
use super::tree::Pos;

/// Adds an error at every group that an earlier one (in walk order) already
/// claims: the same id, or, for a group without `id`, the same name as any
/// other group (a group known by name must be the only one of that name).
pub(super) fn report_duplicates(files: &mut [FileReport]) {
    let mut later: Vec<(usize, Diagnostic)> = Vec::new();
    {
        let tree = Tree::new(files);
        let hasher = RandomState::new();
        // Sized for every group at once: growing a table rehashes every key
        // in it, and finding a key by its group's number is not free.
        let all = tree.len();
        let mut ids = Claims::new(&tree, &hasher, |group| group.group.id(), all);
        let mut names_without_id = Claims::new(&tree, &hasher, declared_name, 0);
        let mut names_with_id = Claims::new(&tree, &hasher, declared_name, all);
        for (file_index, index, parsed) in tree.groups() {
            let problem = match &parsed.group.key {
                GroupKey::Id(_) => ids
                    .first_claim(index)
                    .map(|first| duplicate_id(parsed, first))
                    .or_else(|| {
                        let name = declared_name(parsed)?;
                        names_with_id.first_claim(index);
                        let first = names_without_id.get(name)?;
                        Some(name_taken(parsed, first))
                    }),
                GroupKey::Name { name, .. } => names_without_id
                    .first_claim(index)
                    .or_else(|| names_with_id.get(name))
                    .map(|first| name_taken(parsed, first)),
            };
            if let Some(problem) = problem {
                later.push((file_index, problem));
            }
        }
    }
    for (file_index, problem) in later {
        files[file_index].problems.push(problem);
    }
}

fn declared_name(parsed: &ParsedGroup) -> Option<&str> {
    parsed.group.fields.name.as_deref()
}

/// Every group of every file, numbered in walk order.
struct Tree<'g> {
    files: &'g [FileReport],
    /// The number of the first group of each file.
    starts: Vec<u32>,
}

impl<'g> Tree<'g> {
    fn new(files: &'g [FileReport]) -> Self {
        let mut next: u32 = 0;
        let starts = files
            .iter()
            .map(|file| {
                let start = next;
                // Unreachable: 2^32 groups would take a terabyte to hold.
                next = u32::try_from(file.groups.len())
                    .ok()
                    .and_then(|count| next.checked_add(count))
                    .expect("fewer than 2^32 groups in a tree");
                start
            })
            .collect();
        Tree { files, starts }
    }

    /// How many groups the files hold.
    fn len(&self) -> usize {
        self.files.iter().map(|file| file.groups.len()).sum()
    }

    /// Each group with its file's index and its own number.
    fn groups(&self) -> impl Iterator<Item = (usize, u32, &'g ParsedGroup)> + '_ {
        let files = self.files;
        files
            .iter()
            .enumerate()
            .flat_map(move |(file_index, file)| {
                let start = self.starts[file_index];
                (start..)
                    .zip(&file.groups)
                    .map(move |(index, group)| (file_index, index, group))
            })
    }

    /// Group number `index`.
    fn group(&self, index: u32) -> &'g ParsedGroup {
        let file_index = self.starts.partition_point(|start| *start <= index) - 1;
        &self.files[file_index].groups[(index - self.starts[file_index]) as usize]
    }
}

/// The first group to claim each key, by its number in the tree.
struct Claims<'t, 'g, K> {
    keys: Keys<'t, 'g, K>,
    table: HashTable<u32>,
}

/// What a group claims: `key` gives its text (every group recorded has one).
struct Keys<'t, 'g, K> {
    tree: &'t Tree<'g>,
    hasher: &'t RandomState,
    key: K,
}

impl<'g, K: Fn(&'g ParsedGroup) -> Option<&'g str>> Keys<'_, 'g, K> {
    /// The text group `index` claims.
    fn text(&self, index: u32) -> &'g str {
        (self.key)(self.tree.group(index)).unwrap_or_default()
    }

    fn hash(&self, text: &str) -> u64 {
        self.hasher.hash_one(text)
    }
}

impl<'t, 'g, K: Fn(&'g ParsedGroup) -> Option<&'g str>> Claims<'t, 'g, K> {
    fn new(tree: &'t Tree<'g>, hasher: &'t RandomState, key: K, capacity: usize) -> Self {
        Claims {
            keys: Keys { tree, hasher, key },
            table: HashTable::with_capacity(capacity),
        }
    }

    /// The group that claimed the key of group `index` first, or `None`
    /// when that group is the first (and is now recorded as such).
    fn first_claim(&mut self, index: u32) -> Option<&'g ParsedGroup> {
        let Claims { keys, table } = self;
        let text = keys.text(index);
        let same = |other: &u32| keys.text(*other) == text;
        let rehash = |other: &u32| keys.hash(keys.text(*other));
        match table.entry(keys.hash(text), same, rehash) {
            Entry::Occupied(first) => Some(keys.tree.group(*first.get())),
            Entry::Vacant(slot) => {
                slot.insert(index);
                None
            }
        }
    }

    /// The group that claimed `text`, if any did.
    fn get(&self, text: &str) -> Option<&'g ParsedGroup> {
        let keys = &self.keys;
        let first = self
            .table
            .find(keys.hash(text), |other| keys.text(*other) == text)?;
        Some(keys.tree.group(*first))
    }
}

fn duplicate_id(again: &ParsedGroup, first: &ParsedGroup) -> Diagnostic {
    let first_place = place(&first.group.source.path, first.key_at);
    let id = first.group.id().unwrap_or_default();
    Diagnostic::at(
        &*again.group.source.path,
        again.key_at.line as usize,
        again.key_at.column as usize,
        format!("id \"{id}\" is already declared at {first_place}"),
    )
}

/// The error at `later`'s name: its name is `earlier`'s too, and at least
/// one of the two has no `id`, so that name must be unique in the tree.
fn name_taken(later: &ParsedGroup, earlier: &ParsedGroup) -> Diagnostic {
    let at = later.name_at.unwrap_or(later.key_at);
    let earlier_place = place(
        &earlier.group.source.path,
        earlier.name_at.unwrap_or(earlier.key_at),
    );
    let name = later.group.fields.name.as_deref().unwrap_or_default();
    let with_id = earlier.group.id().or_else(|| later.group.id());
    let message = match with_id {
        None => format!(
            "name \"{name}\" is already declared at {earlier_place}, also without `id`; a group without `id` \
             is known by its name, so the name must be unique: add `id:` to one of them, or rename one"
        ),
        Some(id) => format!(
            "name \"{name}\" is already declared at {earlier_place}; with group {id} declaring it too, \
             the group without `id` cannot be known by its name: add its `id:`, or rename one of them"
        ),
    };
    Diagnostic::at(
        &*later.group.source.path,
        at.line as usize,
        at.column as usize,
        message,
    )
}

fn place(path: &Path, pos: Pos) -> String {
    format!("{}:{}:{}", path.display(), pos.line, pos.column)
}
