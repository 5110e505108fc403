//! The **membership** kind: the users a group scopes (what its compliance
//! officers may see). Read from `GET .../usergroups/{id}/memberships`,
//! written one user at a time with `PUT .../memberships/{userId}`; the list
//! machinery it shares with assignments is in [`crate::kinds::roster`].

use crate::kinds::core::Kind;
use crate::kinds::roster::ListKind;
use crate::model::Roster;

/// Members: `members:` in YAML, `memberCount` on the group.
pub const MEMBERSHIPS: ListKind = ListKind {
    kind: Kind::Membership,
    roster: Roster::Members,
    count: |group| group.member_count,
    emptied_warning: None,
    // Members come and go in any order: all at once.
    adds_first: false,
};
