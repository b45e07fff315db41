//! Report outputs: the terminal table, CSV, Markdown, JSON and the roofline chart (SVG).
//! Files are written to a temporary file beside the target and renamed into place.

mod chart;
mod table;

pub use chart::write_roofline_svg;
pub use table::{case_row, write_csv, write_markdown};

pub use crate::files::write_atomic;
