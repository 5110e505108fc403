//! Text from files and from the pod, made safe to show: on a terminal, in a
//! log line, in a plan. Control characters (ESC, CR, LF), bidi controls,
//! line and paragraph separators and every other invisible character
//! (Unicode's default-ignorable code points: zero-width characters, soft
//! hyphens, fillers, variation selectors, tag characters) are written as
//! `\u{...}`, so that a group name can neither clear the screen nor forge a
//! log line nor look like another name. The loader refuses the same
//! characters in what it reads ([`is_invisible`]).
//!
//! Also the small helpers every message needs: counts with their noun
//! ([`counted`]), quoting ([`quoted`], [`yaml_scalar`]) and the
//! did-you-mean of an unknown key ([`closest`]).

use std::borrow::Cow;
use std::fmt::Write as _;

/// The characters [`is_invisible`] stands for, as inclusive ranges sorted by
/// start: the Unicode 16.0.0 properties `Default_Ignorable_Code_Point` (which
/// holds every `Bidi_Control` character: ALM U+061C, LRM/RLM, the embeddings,
/// overrides and isolates) and the general categories `Line_Separator` (Zl,
/// U+2028) and `Paragraph_Separator` (Zp, U+2029), from the UCD's
/// `DerivedCoreProperties.txt`, `PropList.txt` and `UnicodeData.txt`.
const INVISIBLE: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),   // soft hyphen
    ('\u{034F}', '\u{034F}'),   // combining grapheme joiner
    ('\u{061C}', '\u{061C}'),   // Arabic letter mark (bidi)
    ('\u{115F}', '\u{1160}'),   // Hangul choseong and jungseong fillers
    ('\u{17B4}', '\u{17B5}'),   // Khmer inherent vowels
    ('\u{180B}', '\u{180F}'),   // Mongolian variation selectors, vowel separator
    ('\u{200B}', '\u{200F}'),   // zero-width space, (non-)joiner, LRM, RLM
    ('\u{2028}', '\u{2029}'),   // line and paragraph separators (Zl, Zp)
    ('\u{202A}', '\u{202E}'),   // bidi embeddings and overrides
    ('\u{2060}', '\u{206F}'),   // word joiner, invisible operators, isolates
    ('\u{3164}', '\u{3164}'),   // Hangul filler
    ('\u{FE00}', '\u{FE0F}'),   // variation selectors
    ('\u{FEFF}', '\u{FEFF}'),   // zero-width no-break space, byte-order mark
    ('\u{FFA0}', '\u{FFA0}'),   // half-width Hangul filler
    ('\u{FFF0}', '\u{FFF8}'),   // unassigned, reserved as ignorable
    ('\u{1BCA0}', '\u{1BCA3}'), // shorthand format controls
    ('\u{1D173}', '\u{1D17A}'), // musical symbol format controls
    ('\u{E0000}', '\u{E0FFF}'), // tag characters, variation selectors supplement
];

/// Characters that show nothing, or reorder or break what is around them:
/// Unicode's default-ignorable code points (bidi controls included) and the
/// line and paragraph separators (the exact set: `INVISIBLE`, in this file).
/// Control characters are [`char::is_control`]'s business.
pub fn is_invisible(c: char) -> bool {
    INVISIBLE
        .binary_search_by(|&(start, end)| {
            if end < c {
                std::cmp::Ordering::Less
            } else if start > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// True for a character [`escaped`] writes as `\u{...}`.
pub fn needs_escape(c: char) -> bool {
    c.is_control() || is_invisible(c)
}

/// `text` as one safe line: every control, bidi and invisible character as
/// `\u{...}`. Borrows when there is nothing to escape.
pub fn escaped(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    push_escaped(&mut shown, text);
    Cow::Owned(shown)
}

fn push_escaped(shown: &mut String, text: &str) {
    for c in text.chars() {
        if needs_escape(c) {
            let _ = write!(shown, "\\u{{{:x}}}", u32::from(c));
        } else {
            shown.push(c);
        }
    }
}

/// `text` as [`escaped`] shows it, but each line break (`\n`) kept, with
/// `indent` after it: the lines after the first are continuation lines,
/// which cannot pass for records of their own in a log that starts each
/// record at the start of a line. `indent` should be whitespace.
pub fn escaped_indented<'t>(text: &'t str, indent: &str) -> Cow<'t, str> {
    if !text.contains('\n') {
        return escaped(text);
    }
    let mut shown = String::with_capacity(text.len() + 16);
    for (index, line) in text.split('\n').enumerate() {
        if index > 0 {
            shown.push('\n');
            shown.push_str(indent);
        }
        push_escaped(&mut shown, line);
    }
    Cow::Owned(shown)
}

/// The word of `known` that `typed` is most likely a typo of, if one is
/// close enough: one edit per three characters typed, at least one and at
/// most two (so `intervl` is `interval`, but `foo` is not `pod`); case is
/// ignored. For "did you mean" in messages about unknown keys.
pub fn closest<'k>(typed: &str, known: impl IntoIterator<Item = &'k str>) -> Option<&'k str> {
    let typed = typed.to_lowercase();
    let allowed = (typed.chars().count() / 3).clamp(1, 2);
    known
        .into_iter()
        .map(|known| (edit_distance(&typed, known), known))
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, known)| known)
}

/// The edits (insertions, deletions, substitutions, and swaps of two
/// neighbours) that turn `a` into `b`, counted in characters: the optimal
/// string alignment distance.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows of the table: two back, one back, this one.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for i in 0..a.len() {
        current[0] = i + 1;
        for j in 0..b.len() {
            let substitution = previous[j] + usize::from(a[i] != b[j]);
            let mut best = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
            if i > 0 && j > 0 && a[i] == b[j - 1] && a[i - 1] == b[j] {
                best = best.min(before[j - 1] + 1);
            }
            current[j + 1] = best;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// `1 group`, `2 groups`: a count and its noun, in the right number.
pub fn counted(count: usize, noun: &str) -> String {
    match count {
        1 => format!("1 {noun}"),
        _ => format!("{count} {noun}s"),
    }
}

/// `text` as a JSON string literal: `"EMEA"`, `"two\nlines"`.
pub fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("strings always serialize")
}

/// `text` as a YAML scalar that shows every character as it is: plain
/// where YAML reads it back as the same string, else double-quoted with `\`
/// and `"` escaped and every control, bidi or invisible character written
/// as a YAML escape (`\n`, `\t`, `\u001b`, `\U000e0001`). The result is one
/// line of visible text, so a value can neither start a line of its own in
/// a plan nor drive a terminal, and it reads back as `text`.
pub fn yaml_scalar(text: &str) -> Cow<'_, str> {
    if is_plain_safe(text) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(yaml_quoted(text))
    }
}

/// `text` as a YAML double-quoted scalar, escaped as [`yaml_scalar`] does.
pub fn yaml_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) && u32::from(c) > 0xFFFF => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// True when `text` can stand as a plain YAML scalar and read back as the same string.
pub fn is_plain_safe(text: &str) -> bool {
    const INDICATORS: &[char] = &[
        '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@',
        '`',
    ];
    let Some(first) = text.chars().next() else {
        return false;
    };
    !INDICATORS.contains(&first)
        && text.trim() == text
        && !text.contains(": ")
        && !text.contains(" #")
        && !text.ends_with(':')
        && !text.chars().any(needs_escape)
        && !reads_as_non_string(text)
}

/// Plain scalars YAML 1.1 or 1.2 would read as null, a boolean or a number.
fn reads_as_non_string(text: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "~", "null", "true", "false", "yes", "no", "on", "off", "y", "n", ".nan", ".inf", "-.inf",
        "+.inf",
    ];
    let lower = text.to_ascii_lowercase();
    KEYWORDS.contains(&lower.as_str())
        || text.parse::<f64>().is_ok()
        || text.starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_line_breaks_and_bidi_overrides_are_shown_not_obeyed() {
        assert_eq!(escaped("\u{1b}[2Jname"), "\\u{1b}[2Jname");
        assert_eq!(
            escaped("a\nINFO cycle done failed=0"),
            "a\\u{a}INFO cycle done failed=0"
        );
        assert_eq!(escaped("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(escaped("zero\u{200b}width"), "zero\\u{200b}width");
        assert_eq!(escaped("word\u{2060}joiner"), "word\\u{2060}joiner");
        assert!(matches!(escaped("plain, même ünïcode"), Cow::Borrowed(_)));
    }
    /// Characters that once got through: each one a default-ignorable code
    /// point, a bidi control or a line or paragraph separator.
    const ONCE_MISSED: [char; 12] = [
        '\u{061C}',  // Arabic letter mark, a bidi control
        '\u{00AD}',  // soft hyphen
        '\u{180E}',  // Mongolian vowel separator
        '\u{2028}',  // line separator
        '\u{2029}',  // paragraph separator
        '\u{3164}',  // Hangul filler
        '\u{034F}',  // combining grapheme joiner
        '\u{FE0F}',  // variation selector 16
        '\u{E0000}', // the first tag character
        '\u{E0001}', // language tag
        '\u{E0041}', // tag latin capital A
        '\u{E007F}', // cancel tag
    ];

    #[test]
    fn every_default_ignorable_bidi_and_separator_character_is_escaped() {
        for c in ONCE_MISSED {
            assert!(is_invisible(c), "U+{:04X}", u32::from(c));
            let text = format!("a{c}b");
            assert_eq!(
                escaped(&text),
                format!("a\\u{{{:x}}}b", u32::from(c)),
                "U+{:04X}",
                u32::from(c)
            );
            assert!(yaml_quoted(&text).is_ascii(), "U+{:04X}", u32::from(c));
        }
        for visible in ['a', ' ', '-', 'é', 'ﬁ', '\u{3000}', '中', '😀', '\u{E1000}'] {
            assert!(!is_invisible(visible), "{visible:?}");
        }
    }

    #[test]
    fn the_invisible_ranges_are_sorted_and_apart() {
        for pair in INVISIBLE.windows(2) {
            assert!(pair[0].0 <= pair[0].1, "{pair:?}");
            assert!(pair[0].1 < pair[1].0, "{pair:?}");
        }
        for (start, end) in INVISIBLE {
            assert!(is_invisible(*start) && is_invisible(*end));
        }
    }

    #[test]
    fn line_breaks_become_indented_continuation_lines() {
        assert_eq!(
            escaped_indented("3 errors:\ngroups.d/a.yaml:1:5: bad\r\n\u{1b}[2J", "  "),
            "3 errors:\n  groups.d/a.yaml:1:5: bad\\u{d}\n  \\u{1b}[2J"
        );
        assert!(matches!(
            escaped_indented("one line", "  "),
            Cow::Borrowed(_)
        ));
        let forged = escaped_indented("x\nINFO cycle done failed=0", "  ");
        assert!(
            forged.lines().skip(1).all(|line| line.starts_with(' ')),
            "{forged}"
        );
    }

    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(edit_distance("", "id"), 2);
        assert_eq!(edit_distance("descripton", "description"), 1);
        assert_eq!(edit_distance("nmae", "name"), 1, "a swap is one edit");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        let keys = ["interval", "debounce", "schedule", "pod"];
        assert_eq!(closest("intervl", keys), Some("interval"));
        assert_eq!(closest("DEBOUNCE", keys), Some("debounce"));
        assert_eq!(closest("xy", keys), None);
        assert_eq!(closest("foo", keys), None, "two edits of three letters");
        assert_eq!(closest("pdo", keys), Some("pod"));
    }

    #[test]
    fn counts_take_the_right_number() {
        assert_eq!(counted(0, "group"), "0 groups");
        assert_eq!(counted(1, "group"), "1 group");
        assert_eq!(counted(2, "error"), "2 errors");
    }

    #[test]
    fn plain_strings_stay_plain() {
        assert_eq!(yaml_scalar("EMEA trading scope"), "EMEA trading scope");
        assert_eq!(
            yaml_scalar("Traders in London and Paris"),
            "Traders in London and Paris"
        );
        assert_eq!(yaml_scalar("a-b_c"), "a-b_c");
    }

    #[test]
    fn strings_yaml_would_misread_are_quoted() {
        for (input, expected) in [
            ("", r#""""#),
            ("true", r#""true""#),
            ("No", r#""No""#),
            ("123", r#""123""#),
            ("1e3", r#""1e3""#),
            ("null", r#""null""#),
            ("a: b", r#""a: b""#),
            (" lead", r#"" lead""#),
            ("- x", r#""- x""#),
            ("two\nlines", r#""two\nlines""#),
            ("x #comment", r#""x #comment""#),
        ] {
            assert_eq!(yaml_scalar(input), expected, "for {input:?}");
        }
    }

    #[test]
    fn quoted_output_reads_back_as_the_same_string() {
        for input in [
            "",
            "true",
            "123",
            "a: b",
            " lead",
            "tab\there",
            "quote\"d",
            "ünï",
        ] {
            let rendered = yaml_scalar(input);
            let back: String = serde_yaml::from_str(&format!("v: {rendered}"))
                .map(|map: std::collections::BTreeMap<String, String>| map["v"].clone())
                .unwrap();
            assert_eq!(back, input);
        }
    }
}
