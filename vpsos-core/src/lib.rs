//! vpsos: an embeddable Linux system-container runtime.
//!
//! A host program links this library to run full distributions in
//! containers: init as PID 1, mapped uids/gids, its own cgroup, pivot_root
//! into a directory rootfs, and a handle that any process can reload by id.
//!
//! ```no_run
//! use vpsos_core::{Config, CreateOptions, IdMap, Process, Runtime};
//! let cfg = Config::builder("/var/lib/vpsos/ct1/rootfs")
//!     .hostname("ct1")
//!     .id_maps(IdMap::single(0, 100000, 65536))
//!     .init(Process::new(["/bin/sh", "-c", "cat /proc/self/uid_map"]))
//!     .build()?;
//! let ct = Runtime::new().run("ct1", &cfg, CreateOptions::default())?;
//! ct.wait()?;
//! ct.delete()?;
//! # Ok::<(), vpsos_core::Error>(())
//! ```
//!
//! Data flows one way: [`config`] → plan → `spawn` → [`Container`].
#![warn(missing_docs)]

pub mod cgroup;
mod command;
pub mod config;
pub mod container;
mod error;
mod fault;
mod features;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod idmap;
pub mod net;
mod plan;
pub mod rootfs;
pub mod security;
mod spawn;
pub mod storage;
pub mod until;

pub use cgroup::Cgroup;
pub use config::{
    Capabilities, Capability, CgroupPlacement, Config, ConfigBuilder, Halt, InitKind, Mount,
    MountKind, NamespaceKind, NamespaceMode, Namespaces, Process, Propagation, Rlimit, TimeOffsets,
    User,
};
pub use container::{
    Container, ContainerInfo, CreateOptions, EndReason, ExecProcess, InitExit, Reaper, Recovered,
    Runtime, State, Status, Stdio, StopOutcome,
};
pub use error::{Error, ErrorKind, Result, Stage};
pub use features::{CgroupMode, HostFeatures};
pub use idmap::{IdMap, IdMapEntry, IdRange, IdRangeAllocation};
pub use rootfs::STANDARD_DEVICES;
pub use spawn::ExitStatus;
