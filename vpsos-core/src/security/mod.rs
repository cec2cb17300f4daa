//! Confinement: seccomp profiles (compiled to BPF with libseccomp, cached,
//! loaded by the child just before exec). Capabilities live with the
//! process description ([`crate::Capabilities`]).

pub mod seccomp;
mod seccomp_bpf;
mod seccomp_notify;
