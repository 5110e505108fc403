//! The **render** stage: a cycle's [`Report`] as text (a unified diff per
//! changed group, [`text`]), as JSON ([`json`]), or as Markdown for a pull
//! request ([`markdown`]); [`common`] holds what the three share. Each
//! resource kind renders its own lines (`crate::kinds`); these loop over them.

pub mod common;
pub mod json;
pub mod markdown;
pub mod text;

pub use common::{Report, summary_line};
pub use json::{JsonDocument, render_failure_json, render_json, render_validation_json};
pub use text::{render_text, stdout_wants_color};
