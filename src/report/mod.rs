//! Reports rendered from a [`crate::record::RunRecord`]: the annotated
//! Markdown copy, JSON, JUnit XML, HTML, and terminal progress.

pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod terminal;
