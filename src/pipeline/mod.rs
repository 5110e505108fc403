//! The **pipeline**, one module per stage: load (in [`crate::desired`]) ->
//! [`refresh`] -> [`plan`] -> [`render`] | [`apply`], with the snapshot in
//! [`crate::store`] and [`cycle`] running one pass of it all. Each stage loops
//! over the resource kinds ([`crate::kinds`]) and names none. [`import`]
//! writes the pod's undeclared groups as groups.d YAML.

pub mod apply;
pub mod cycle;
pub mod import;
pub mod orphans;
pub mod ownership;
pub mod plan;
pub mod refresh;
pub mod render;
