//! The **pipeline**, one module per stage: load (in [`crate::desired`]) ->
//! [`refresh`] -> [`plan`] -> [`render`] | [`apply`], with the snapshot in
//! [`crate::store`] and [`cycle`] running one pass of it all. Each stage loops
//! over the resource kinds ([`crate::kinds`]) and names none. [`import`]
//! writes the pod's undeclared groups as groups.d YAML.
//!
//! Change control rides on it: [`saved`] is a plan kept as a file (`plan
//! --out`, `apply FILE`), [`journaling`] records every write [`apply`] makes
//! in the journal, and [`approval`] lets an operator approve one plan held
//! over its limits.

pub mod apply;
pub mod approval;
pub mod cycle;
pub mod import;
pub mod journaling;
pub mod orphans;
pub mod ownership;
pub mod plan;
pub mod refresh;
pub mod render;
pub mod saved;
