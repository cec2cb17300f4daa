//! Where root filesystems live. [`dir`] is the embedded default: plain
//! directories, no pool needed.

pub mod dir;

pub use dir::DirStorage;
