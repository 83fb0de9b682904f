//! The rules every sink keeps, planned the same way whatever executes them: the newest row per key wins,
//! a page moving between databases flags its older copy, history is written before the page row, and a
//! batch that changes nothing plans nothing (so nothing is written). Each sink loads what the plan needs
//! to know of stored rows (all of them, or only the batch's keys) and executes the plan its own way.

pub mod entities;
pub mod pages;
