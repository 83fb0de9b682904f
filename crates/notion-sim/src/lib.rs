//! notion-sim
