//! Unpredictable hex strings for session tokens and group ids, without a new crate.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Distinguishes calls made within the same clock tick.
static CALLS: AtomicU64 = AtomicU64::new(0);

/// `len` lowercase hex digits.
///
/// Each 64-bit chunk comes from a fresh `RandomState`, whose SipHash keys are
/// seeded from the operating system's randomness; mixing in a counter and the
/// clock keeps two chunks from ever repeating.
pub(super) fn random_hex(len: usize) -> String {
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        out.push_str(&format!("{:016x}", random_u64()));
    }
    out.truncate(len);
    out
}

fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    CALLS.fetch_add(1, Ordering::Relaxed).hash(&mut hasher);
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
        .hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_the_asked_length_and_only_lowercase_hex() {
        for len in [0, 1, 24, 64, 70] {
            let value = random_hex(len);
            assert_eq!(value.len(), len);
            assert!(
                value
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
            );
        }
    }

    #[test]
    fn does_not_repeat() {
        let values: std::collections::HashSet<String> = (0..1000).map(|_| random_hex(24)).collect();
        assert_eq!(values.len(), 1000);
    }
}
