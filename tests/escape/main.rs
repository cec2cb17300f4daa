//! The escape suite: containers with vpsos's defaults (user namespace,
//! default capabilities, default seccomp, AppArmor where the host has it)
//! attack the host from inside, and hostile configs attack it from
//! outside. Every attempt must be blocked, and each is judged by its goal
//! (did the host change, did a forbidden read or write succeed), not by
//! which layer stopped it. Every attempt also has a positive control: the
//! attacking code must be seen to run (the shell printed `RAN`, the probe
//! printed the errno of its call), so an attack that never ran cannot
//! pass as blocked. Prints `escape: N attempts, N blocked`. Run as root;
//! x86_64 syscall numbers.
#![cfg(target_arch = "x86_64")]

#[path = "../common/mod.rs"]
mod common;
mod configs;
mod host;
mod kernel;
mod mounts;
mod runtime_binary;
mod session;

use common::*;
use vpsos::{Container, CreateOptions, Process};

/// Written to the real stdout, past libtest's capture.
pub fn say(line: &str) {
    let l = format!("{line}\n");
    unsafe { libc::write(1, l.as_ptr() as *const libc::c_void, l.len()) };
}

/// The tally of one run.
pub struct Suite {
    attempts: usize,
    escaped: Vec<String>,
}

impl Suite {
    /// Record attempt `name`: `ran` is its positive control (the attack
    /// was really made), `blocked` its goal not reached.
    pub fn judge(&mut self, name: &str, ran: bool, blocked: bool, detail: &str) {
        self.attempts += 1;
        match (ran, blocked) {
            (true, true) => say(&format!("escape: blocked: {name}")),
            (false, _) => {
                say(&format!("escape: NOT RUN: {name}: {detail}"));
                self.escaped.push(format!("{name} (never ran): {detail}"));
            }
            (true, false) => {
                say(&format!("escape: ESCAPED: {name}: {detail}"));
                self.escaped.push(format!("{name}: {detail}"));
            }
        }
    }

    /// An attack this host's kernel gives no surface for (say, no
    /// /proc/sysrq-trigger): reported, not counted.
    pub fn not_applicable(&mut self, name: &str, why: &str) {
        say(&format!("escape: n/a: {name}: {why}"));
    }

    /// Run `script` in `ct` after `echo RAN` (its positive control) and
    /// judge its output with `blocked`.
    pub fn attempt(
        &mut self,
        ct: &Container,
        name: &str,
        script: &str,
        blocked: impl Fn(&str) -> bool,
    ) -> String {
        let (_, out) = exec_sh(ct, &format!("echo RAN; {script}"));
        let ran = out.lines().next() == Some("RAN");
        self.judge(name, ran, blocked(&out), &out);
        out
    }

    /// Run probe calls in `ct` (`probe ...` lines of `script`, each
    /// printing `... errno=E`), expecting `n` reports; blocked when every
    /// report's errno is one of `ok`.
    pub fn probe(&mut self, ct: &Container, name: &str, script: &str, n: usize, ok: &[&str]) {
        let (_, out) = exec_sh(ct, script);
        let errnos: Vec<&str> = out
            .lines()
            .filter_map(|l| l.rsplit_once(" errno=").map(|(_, e)| e))
            .collect();
        self.judge(
            name,
            errnos.len() == n,
            errnos.iter().all(|e| ok.contains(e)),
            &out,
        );
    }
}

/// A default container running `sleep`, for the attacks from inside.
pub fn target(tag: &str) -> (String, Container) {
    let cfg = config()
        .init(Process::new(["/bin/sleep", "100000"]))
        .build()
        .unwrap();
    let id = id(tag);
    let ct = runtime().run(&id, &cfg, CreateOptions::default()).unwrap();
    (id, ct)
}

#[test]
fn escape_attempts_are_all_blocked() {
    require_root!();
    let mut s = Suite {
        attempts: 0,
        escaped: vec![],
    };
    let (id, ct) = target("escape");
    host::attacks(&mut s, &ct);
    kernel::attacks(&mut s, &ct);
    mounts::attacks(&mut s, &ct);
    runtime_binary::attacks(&mut s, &ct);
    ct.delete_force().unwrap();
    assert_no_leaks(&id, rootfs());

    runtime_binary::symlinked_mount_destination(&mut s);
    session::attacks(&mut s);
    configs::attacks(&mut s);

    say(&format!(
        "escape: {} attempts, {} blocked",
        s.attempts,
        s.attempts - s.escaped.len()
    ));
    assert!(s.escaped.is_empty(), "escaped: {:#?}", s.escaped);
}

/// Run by `session::attacks` in a process of its own whose controlling
/// terminal is a pty the test holds: starts a container (init and exec)
/// that tries to type into that terminal.
#[test]
#[ignore = "helper: runs only when spawned by another test"]
fn helper_tiocsti() {
    session::helper();
}
