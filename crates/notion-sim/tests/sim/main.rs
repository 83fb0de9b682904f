//! Integration tests: the simulator over real HTTP.

mod admin;
mod basics;
mod common;
mod content;
mod corpus;
mod files;
mod large;
mod limits;
mod page_content;
mod properties;
mod query;
mod writes_blocks;
mod writes_faults;
mod writes_pages;
mod writes_schema;
