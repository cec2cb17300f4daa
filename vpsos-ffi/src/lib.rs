//! libvpsos: the C ABI of vpsos.
//!
//! Every fallible call returns a `vpsos_error *`: NULL on success, else an
//! error the caller reads (`vpsos_error_kind`, `_errno`, `_stage`,
//! `_field`, `_message`) and frees with `vpsos_error_free`. There is no
//! thread-local "last error". A Rust panic never crosses into C: the call
//! returns an error of kind `VPSOS_ERROR_PANIC`.
//!
//! Ownership: what a call hands out through an out-parameter belongs to
//! the caller and has its own free function (`vpsos_*_free`,
//! `vpsos_string_free`, `vpsos_strv_free`, `vpsos_bytes_free`; file
//! descriptors are closed with `close`). Arguments are borrowed for the
//! call only: strings and fds stay the caller's (vpsos duplicates an fd it
//! keeps). Out-parameters are written only on success.
//!
//! Threads: `vpsos_runtime`, `vpsos_config`, `vpsos_container`,
//! `vpsos_process`, `vpsos_idrange`, `vpsos_dir_storage` and `vpsos_zfs`
//! may be used from any thread and by several threads at once (every
//! container operation takes the container's own lock where it changes
//! something); only freeing a handle must wait until no other thread uses
//! it. vpsos installs no signal handler, never calls `waitpid(-1)` (it
//! waits on pidfds), and leaves the caller's signal mask and dispositions
//! alone: a program's own `SIGCHLD` handling cannot take a container's
//! status, which its monitor records.
//!
//! The JSON form of a config (`vpsos_config_from_json`) is the contract
//! shared by Rust, C, Ruby and Python; docs/config-json.md describes it.
#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

mod config;
mod container;
mod error;
mod exec;
mod features;
mod idrange;
mod network;
mod resources;
mod runtime;
mod storage;
mod util;
mod zfs;

pub use config::*;
pub use container::*;
pub use error::*;
pub use exec::*;
pub use features::*;
pub use idrange::*;
pub use network::*;
pub use resources::*;
pub use runtime::*;
pub use storage::*;
pub use util::*;
pub use zfs::*;
