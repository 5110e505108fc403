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
}
