//! The Delta Lake sink.
