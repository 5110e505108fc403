//! A pod whose groups all have members and assignees, for the benches that
//! read lists (import, members): `groups` groups, each with a different
//! slice of `users` users as members and of the first `officers` as
//! assignees.

use groupsync::emulator::{EmulatorConfig, SeedUser};
use groupsync::model::UserGroupResponse;

/// The shape of the pod.
pub struct ListsPod {
    pub groups: usize,
    pub members: usize,
    pub assignees: usize,
    pub users: usize,
    pub officers: usize,
    pub page_size: usize,
}

pub fn group_id(index: usize) -> String {
    format!("65{index:012x}")
}

pub fn username(index: usize) -> String {
    format!("user{index:04}")
}

impl ListsPod {
    /// The members of group `index`: a different slice of the users for each group.
    pub fn members_of(&self, index: usize) -> Vec<String> {
        (0..self.members)
            .map(|offset| username((index * 7 + offset * 13) % self.users))
            .collect()
    }

    pub fn assignees_of(&self, index: usize) -> Vec<String> {
        (0..self.assignees)
            .map(|offset| username((index + offset) % self.officers))
            .collect()
    }

    /// The emulator's seed: every group, named `Scope N` in the area
    /// `area_of(N)`, with its lists; every user, the officers first.
    pub fn config(&self, area_of: fn(usize) -> &'static str) -> EmulatorConfig {
        let groups = (0..self.groups)
            .map(|index| UserGroupResponse {
                id: Some(group_id(index).into()),
                name: Some(format!("Scope {index}").into()),
                area: Some(area_of(index).into()),
                ..Default::default()
            })
            .collect();
        let users = (0..self.users)
            .map(|index| match index < self.officers {
                true => SeedUser::officer(10_000 + index as i64, username(index)),
                false => SeedUser::new(10_000 + index as i64, username(index)),
            })
            .collect();
        let pairs = |lists: fn(&ListsPod, usize) -> Vec<String>| {
            (0..self.groups)
                .flat_map(|index| {
                    lists(self, index)
                        .into_iter()
                        .map(move |user| (group_id(index), user))
                })
                .collect()
        };
        EmulatorConfig {
            groups,
            users,
            memberships: pairs(ListsPod::members_of),
            assignments: pairs(ListsPod::assignees_of),
            page_size: self.page_size,
            ..Default::default()
        }
    }
}
