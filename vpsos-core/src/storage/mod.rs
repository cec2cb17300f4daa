//! Where root filesystems live. [`dir`] is the embedded default: plain
//! directories, no pool needed; [`zfs`] drives the `zfs` command.

pub mod dir;
pub mod export;
pub mod zfs;

pub use dir::DirStorage;
