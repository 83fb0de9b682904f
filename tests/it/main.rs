//! End-to-end tests: the real `notion-sync` binary against the simulator over HTTP, with the Delta tables
//! read back from disk.

mod cli;
mod content;
mod corpus;
mod crash;
mod export;
mod fidelity;
mod files;
mod input;
mod lease;
mod lineage;
mod metrics;
mod objects;
mod oracle;
mod rebuild;
mod reliability;
mod restore;
mod serve;
mod snapshots;
mod support;
mod sync;
mod views;
mod warehouse;
mod workload;
