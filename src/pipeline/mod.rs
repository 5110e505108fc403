//! The **pipeline**, one module per stage: load (in [`crate::desired`]) ->
//! [`refresh`] -> [`plan`] -> [`render`] | [`apply`], with [`state`] as the
//! stored snapshot they share and [`cycle`] running one pass of it all.
//! [`roster`] carries members and assignees (the second resource kind)
//! through refresh, plan and apply, beside the groups themselves.
//! [`names`] binds groups declared without `id` to pod groups; [`import`]
//! writes the pod's undeclared groups as groups.d YAML.

pub mod apply;
pub mod cycle;
pub mod import;
pub mod names;
pub mod plan;
pub mod refresh;
pub mod render;
pub mod roster;
