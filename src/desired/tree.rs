//! One file's YAML as a small tree of nodes that remember where they start.
//!
//! Built from `saphyr-parser` events with an explicit stack, so nesting costs
//! heap, not call stack, and stops at [`MAX_DEPTH`]. Aliases and tags are
//! reported here, once, wherever they are; the group reader never sees them.

use std::borrow::Cow;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Span, Tag};

use super::Problems;

/// Deeper than any groups file needs (three levels) by a wide margin, and
/// shallow enough that a file of `[[[[…` is cut short at once.
pub(super) const MAX_DEPTH: usize = 32;

/// A 1-based line and column (columns count characters). 32 bits: a groups
/// file is at most 1 MiB, and every group of a large tree keeps a few.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pos {
    pub line: u32,
    pub column: u32,
}

impl From<Marker> for Pos {
    fn from(marker: Marker) -> Self {
        // Past 32 bits (no file the walk reads gets there) stays at the largest.
        let narrow = |number: usize| u32::try_from(number).unwrap_or(u32::MAX);
        Pos {
            line: narrow(marker.line()),
            column: narrow(marker.col().saturating_add(1)),
        }
    }
}

#[derive(Debug)]
pub(super) struct Node<'t> {
    pub at: Pos,
    pub kind: Kind<'t>,
}

#[derive(Debug)]
pub(super) enum Kind<'t> {
    Scalar(Cow<'t, str>, ScalarStyle),
    Sequence(Vec<Node<'t>>),
    Mapping(Vec<(Node<'t>, Node<'t>)>),
    /// An alias: already reported, to be skipped without further complaint.
    Rejected,
}

/// How reading the events ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    Complete,
    /// A syntax error or too deep a nesting stopped the file; its problem is reported.
    Abandoned,
}

/// Parses `text` and hands each document's root to `on_document` as soon as it is complete.
pub(super) fn for_each_document<'t>(
    text: &'t str,
    problems: &mut Problems,
    mut on_document: impl FnMut(Node<'t>, &mut Problems),
) -> Ending {
    let mut builder = Builder::default();
    for event in Parser::new_from_str(text) {
        // saphyr repeats a syntax error forever, so the first one ends the file.
        let (event, span) = match event {
            Ok(event) => event,
            Err(error) => {
                problems.at(Pos::from(*error.marker()), syntax_message(error.info()));
                return Ending::Abandoned;
            }
        };
        match builder.take(event, span, problems) {
            Step::Continue => {}
            Step::Root(root) => on_document(root, problems),
            Step::TooDeep => return Ending::Abandoned,
        }
    }
    Ending::Complete
}

/// A scalar's text at its own length: the parser hands plain scalars over
/// in buffers sized for scanning (hundreds of bytes for `AREA-1`), and a
/// document's tree holds all of them until it is complete; the groups keep
/// many of them for good.
fn kept(text: Cow<'_, str>) -> Cow<'_, str> {
    match text {
        Cow::Owned(mut text) => {
            text.shrink_to_fit();
            Cow::Owned(text)
        }
        borrowed => borrowed,
    }
}

fn syntax_message(info: &str) -> String {
    if info.contains("unknown anchor") {
        return "aliases (`*name`) are not supported, and this one has no anchor; write the value out in full".into();
    }
    format!("YAML syntax error: {info}")
}

enum Step<'t> {
    Continue,
    Root(Node<'t>),
    TooDeep,
}

/// A sequence or mapping whose end event has not come yet.
enum Open<'t> {
    Sequence {
        at: Pos,
        items: Vec<Node<'t>>,
    },
    Mapping {
        at: Pos,
        entries: Vec<(Node<'t>, Node<'t>)>,
        key: Option<Node<'t>>,
    },
}

#[derive(Default)]
struct Builder<'t> {
    open: Vec<Open<'t>>,
}

impl<'t> Builder<'t> {
    fn take(&mut self, event: Event<'t>, span: Span, problems: &mut Problems) -> Step<'t> {
        let at = Pos::from(span.start);
        match event {
            Event::Scalar(text, style, _anchor, tag) => {
                reject_tag(tag.as_deref(), at, problems);
                self.finish(Node {
                    at,
                    kind: Kind::Scalar(kept(text), style),
                })
            }
            Event::Alias(_) => {
                problems.at(
                    at,
                    "aliases (`*name`) are not supported; write the value out in full",
                );
                self.finish(Node {
                    at,
                    kind: Kind::Rejected,
                })
            }
            Event::SequenceStart(_anchor, tag) => {
                reject_tag(tag.as_deref(), at, problems);
                self.open(
                    Open::Sequence {
                        at,
                        items: Vec::new(),
                    },
                    problems,
                )
            }
            Event::MappingStart(_anchor, tag) => {
                reject_tag(tag.as_deref(), at, problems);
                let mapping = Open::Mapping {
                    at,
                    entries: Vec::new(),
                    key: None,
                };
                self.open(mapping, problems)
            }
            Event::SequenceEnd | Event::MappingEnd => match self.open.pop() {
                Some(Open::Sequence { at, items }) => self.finish(Node {
                    at,
                    kind: Kind::Sequence(items),
                }),
                Some(Open::Mapping { at, entries, .. }) => self.finish(Node {
                    at,
                    kind: Kind::Mapping(entries),
                }),
                None => Step::Continue,
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd => Step::Continue,
        }
    }

    fn open(&mut self, container: Open<'t>, problems: &mut Problems) -> Step<'t> {
        if self.open.len() >= MAX_DEPTH {
            let at = match container {
                Open::Sequence { at, .. } | Open::Mapping { at, .. } => at,
            };
            problems.at(
                at,
                format!("nested deeper than {MAX_DEPTH} levels; a groups file needs three (`groups:`, its list, a group)"),
            );
            return Step::TooDeep;
        }
        self.open.push(container);
        Step::Continue
    }

    /// Puts a complete node into the container it belongs to, or hands it out as a document root.
    fn finish(&mut self, node: Node<'t>) -> Step<'t> {
        match self.open.last_mut() {
            None => Step::Root(node),
            Some(Open::Sequence { items, .. }) => {
                items.push(node);
                Step::Continue
            }
            Some(Open::Mapping { entries, key, .. }) => {
                match key.take() {
                    None => *key = Some(node),
                    Some(complete_key) => entries.push((complete_key, node)),
                }
                Step::Continue
            }
        }
    }
}

/// Tags would change how a value is typed; quoting says the same thing plainly.
fn reject_tag(tag: Option<&Tag>, at: Pos, problems: &mut Problems) {
    let Some(tag) = tag else { return };
    let written = if tag.handle == "tag:yaml.org,2002:" {
        format!("!!{}", tag.suffix)
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    };
    problems.at(
        at,
        format!("tags such as `{written}` are not supported; write the value in quotes to make it a string"),
    );
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use super::*;

    /// The problems and the number of documents `text` yields.
    fn read(text: &str) -> (Vec<String>, usize, Ending) {
        let mut problems = Problems::new(Path::new("t.yaml"));
        let mut documents = 0;
        let ending = for_each_document(text, &mut problems, |_, _| documents += 1);
        (
            problems.list.iter().map(ToString::to_string).collect(),
            documents,
            ending,
        )
    }

    #[test]
    fn nodes_know_where_they_start() {
        let mut problems = Problems::new(Path::new("t.yaml"));
        let mut roots = Vec::new();
        for_each_document("a:\n  - x\n  - {b: 'y'}\n", &mut problems, |root, _| {
            roots.push(root)
        });
        let [root] = &roots[..] else {
            panic!("{roots:?}")
        };
        let Kind::Mapping(entries) = &root.kind else {
            panic!("{root:?}")
        };
        let (key, value) = &entries[0];
        assert_eq!(key.at, Pos { line: 1, column: 1 });
        let Kind::Sequence(items) = &value.kind else {
            panic!("{value:?}")
        };
        assert_eq!(value.at, Pos { line: 2, column: 3 });
        assert_eq!(
            (items[0].at, items[1].at),
            (Pos { line: 2, column: 5 }, Pos { line: 3, column: 5 })
        );
        assert!(problems.is_empty());
    }

    #[test]
    fn each_document_is_handed_out() {
        assert_eq!(
            read("a: 1\n---\nb: 2\n---\n"),
            (vec![], 3, Ending::Complete)
        );
    }

    #[test]
    fn nesting_stops_at_the_limit() {
        let inside_the_limit = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(read(&inside_the_limit), (vec![], 1, Ending::Complete));

        let message = "nested deeper than 32 levels; a groups file needs three (`groups:`, its list, a group)";
        let flow = format!("{}{}", "[".repeat(40), "]".repeat(40));
        assert_eq!(
            read(&flow),
            (
                vec![format!("t.yaml:1:33: {message}")],
                0,
                Ending::Abandoned
            )
        );

        assert_eq!(
            read(&"- ".repeat(40)).0,
            [format!("t.yaml:1:65: {message}")]
        );
    }

    #[test]
    fn a_mebibyte_of_nesting_ends_quickly_with_one_problem() {
        // saphyr stops unclosed flow nesting itself, at 256 levels.
        for bomb in [
            "[".repeat(1024 * 1024),
            "{a: ".repeat(256 * 1024),
            "- ".repeat(512 * 1024),
        ] {
            let started = Instant::now();
            let (problems, documents, ending) = read(&bomb);
            assert_eq!(
                (problems.len(), documents, ending),
                (1, 0, Ending::Abandoned),
                "{problems:?}"
            );
            assert!(started.elapsed() < Duration::from_secs(5));
        }
    }

    #[test]
    fn an_alias_bomb_is_reported_without_being_expanded() {
        let mut bomb = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for (level, previous) in ["b", "c", "d", "e", "f", "g", "h", "i"]
            .iter()
            .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
        {
            let aliases = vec![format!("*{previous}"); 9].join(",");
            bomb.push_str(&format!("{level}: &{level} [{aliases}]\n"));
        }
        let started = Instant::now();
        let (problems, documents, ending) = read(&bomb);
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(
            (problems.len(), documents, ending),
            (72, 1, Ending::Complete)
        );
        assert_eq!(
            problems[0],
            "t.yaml:2:8: aliases (`*name`) are not supported; write the value out in full"
        );
    }

    #[test]
    fn tags_on_collections_are_rejected_too() {
        assert_eq!(
            read("--- !!map\nx: !!seq []\n").0,
            [
                "t.yaml:1:5: tags such as `!!map` are not supported; write the value in quotes to make it a string",
                "t.yaml:2:4: tags such as `!!seq` are not supported; write the value in quotes to make it a string",
            ]
        );
    }

    #[test]
    fn the_first_syntax_error_ends_the_file() {
        let (problems, documents, ending) = read("a: 1\n---\n[b, c\n---\nd: 2\n");
        assert_eq!(
            problems,
            ["t.yaml:4:1: YAML syntax error: while parsing a flow sequence, expected ',' or ']'"]
        );
        assert_eq!((documents, ending), (1, Ending::Abandoned));
    }
}
