//! The opaque paging cursors the emulator hands out, for the group list and
//! the groups' lists alike: `c` and the hex of the text they point at.

/// An opaque cursor: `c` and the hex of `text` (a group id, or a list position).
pub(super) fn encode_cursor(text: &str) -> String {
    let mut cursor = String::with_capacity(1 + 2 * text.len());
    cursor.push('c');
    for byte in text.bytes() {
        cursor.push_str(&format!("{byte:02x}"));
    }
    cursor
}

/// The text a cursor points at, or `None` if no cursor of ours looks like this.
pub(super) fn decode_cursor(cursor: &str) -> Option<String> {
    let hex = cursor.strip_prefix('c')?;
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|index| {
            hex.get(index..index + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        for id in ["", "abc", "ünïcode/with spaces"] {
            assert_eq!(decode_cursor(&encode_cursor(id)).as_deref(), Some(id));
        }
        for bad in ["", "abc", "c1", "czz", "cff"] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }
}
