//! Text from files and from the pod, made safe to show: on a terminal, in a
//! log line, in a plan. Control characters (ESC, CR, LF), bidi overrides and
//! zero-width characters are written as `\u{...}`, so that a group name can
//! neither clear the screen nor forge a log line nor look like another name.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Bidi controls (overrides, isolates, marks), zero-width characters, the
/// word joiner and invisible operators, and the byte-order mark: text that
/// shows other than it reads.
pub fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// True for a character [`escaped`] writes as `\u{...}`.
pub fn needs_escape(c: char) -> bool {
    c.is_control() || is_invisible(c)
}

/// `text` as one safe line: every control, bidi and zero-width character as
/// `\u{...}`. Borrows when there is nothing to escape.
pub fn escaped(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            let _ = write!(shown, "\\u{{{:x}}}", u32::from(c));
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
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
/// and `"` escaped and every control, bidi or zero-width character written
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
