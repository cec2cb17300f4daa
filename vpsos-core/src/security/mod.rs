//! Confinement: seccomp profiles (compiled to BPF with libseccomp, cached,
//! loaded by the child just before exec) and AppArmor (a generated profile
//! per container, stacked with a policy namespace of its own). Capabilities live with the
//! process description ([`crate::Capabilities`]).

pub mod apparmor;
pub mod seccomp;
pub(crate) mod seccomp_bpf;
mod seccomp_notify;
pub mod seccomp_socket;
