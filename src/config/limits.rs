//! The safety limits, as one table: [`LIMITS`]. Each names its key under
//! `limits:`, what it counts, its default and how a plan over it is refused.
//! [`Limits`](super::Limits) holds the configured values, and
//! [`Limits::value`](super::Limits::value) reads one by its [`LimitSpec`].
//! The docs' table of the limits, the settings table's `limits.*` rows and
//! `Limits::default` are all read from here.

/// Which safety limit; its index in [`LIMITS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Changes = 0,
    Deactivations = 1,
    MemberRemovals = 2,
}

impl Limit {
    /// The limit's row in [`LIMITS`].
    pub const fn spec(self) -> &'static LimitSpec {
        &LIMITS[self as usize]
    }
}

/// One safety limit: a cycle whose plan counts more than the configured
/// value writes nothing, unless `--force` (never for the daemon).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSpec {
    pub limit: Limit,
    /// The config file key, e.g. `limits.max_changes`.
    pub key: &'static str,
    /// What it counts in a plan, as a noun: "groups deactivated".
    pub counts: &'static str,
    /// What exactly counts, where the noun leaves room for doubt (or "").
    pub detail: &'static str,
    /// The value when the config sets none.
    pub default: usize,
    /// What the plan does to what it counts, as the refusal says it: `updates`.
    pub verb: &'static str,
    /// What it counts, as the refusal says it: one, and several.
    pub unit: (&'static str, &'static str),
}

/// Every safety limit, in the order the cycle checks them (the first one
/// exceeded is the one the refusal names).
pub const LIMITS: [LimitSpec; 3] = [
    LimitSpec {
        limit: Limit::Changes,
        key: "limits.max_changes",
        counts: "groups changed (updated, adopted, created or pruned)",
        detail: "a group whose only change is in its members or assignees counts as one",
        default: 100,
        verb: "updates",
        unit: ("group", "groups"),
    },
    LimitSpec {
        limit: Limit::Deactivations,
        key: "limits.max_deactivations",
        counts: "groups deactivated",
        detail: "a PUT of `active: false` to a group not known to be inactive already",
        default: 10,
        verb: "deactivates",
        unit: ("group", "groups"),
    },
    LimitSpec {
        limit: Limit::MemberRemovals,
        key: "limits.max_member_removals",
        counts: "members plus assignees removed (across all groups)",
        detail: "",
        default: 10,
        verb: "removes",
        unit: ("members and assignees", "members and assignees"),
    },
];

impl LimitSpec {
    /// The key under `limits:`, e.g. `max_changes`.
    pub fn name(&self) -> &'static str {
        self.key.strip_prefix("limits.").unwrap_or(self.key)
    }

    /// `1 group`, `12 groups`, `3 members and assignees`.
    pub fn counted(&self, count: usize) -> String {
        let unit = if count == 1 { self.unit.0 } else { self.unit.1 };
        format!("{count} {unit}")
    }

    /// Why a plan counting `count` (more than `limit`) is refused; `detail`
    /// follows the count, e.g. ` (2 of them created)`:
    /// `refusing to apply: the plan updates 12 groups, more than limits.max_changes = 10; nothing was written. ...`
    pub fn refusal(&self, count: usize, detail: &str, limit: usize) -> String {
        format!(
            "refusing to apply: the plan {} {}{detail}, more than {} = {limit}; \
             nothing was written. Review it with `groupsync plan`, then rerun with --force or raise the limit",
            self.verb,
            self.counted(count),
            self.key
        )
    }
}

/// The keys of every limit, joined for a sentence: `limits.max_changes,
/// limits.max_deactivations or limits.max_member_removals` (with `last` =
/// `" or "`), for help texts and messages that name them all.
pub fn limit_keys(last: &str) -> String {
    let keys: Vec<&str> = LIMITS.iter().map(|spec| spec.key).collect();
    match keys.split_last() {
        Some((final_key, [])) => final_key.to_string(),
        Some((final_key, rest)) => format!("{}{last}{final_key}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_limit_sits_at_its_own_index() {
        for (index, spec) in LIMITS.iter().enumerate() {
            assert_eq!(spec.limit as usize, index, "{}", spec.key);
            assert_eq!(spec.limit.spec(), spec);
            assert!(spec.key.starts_with("limits."), "{}", spec.key);
        }
    }

    #[test]
    fn the_refusals_read_as_the_cycle_has_always_written_them() {
        let [changes, deactivations, removals] = &LIMITS;
        assert_eq!(
            changes.refusal(12, " (2 of them created)", 10),
            "refusing to apply: the plan updates 12 groups (2 of them created), more than limits.max_changes = 10; \
             nothing was written. Review it with `groupsync plan`, then rerun with --force or raise the limit"
        );
        assert!(
            deactivations
                .refusal(1, "", 0)
                .starts_with("refusing to apply: the plan deactivates 1 group, more than limits.max_deactivations = 0; ")
        );
        assert!(
            removals
                .refusal(4, "", 3)
                .starts_with("refusing to apply: the plan removes 4 members and assignees, more than limits.max_member_removals = 3; ")
        );
    }

    #[test]
    fn all_the_keys_in_one_sentence() {
        assert_eq!(
            limit_keys(" or "),
            "limits.max_changes, limits.max_deactivations or limits.max_member_removals"
        );
        assert_eq!(LIMITS[2].name(), "max_member_removals");
    }
}
