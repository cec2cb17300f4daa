//! vpsos: an embeddable Linux system-container runtime.
//!
//! This crate is a thin facade: everything lives in [`vpsos_core`] and is
//! re-exported here, plus [`busybox`], which builds the small rootfs the
//! examples, tests and benchmarks start.
pub use vpsos_core::*;

pub mod busybox;
