//! Shared support for the integration tests: a busybox rootfs, unique ids,
//! output capture and a leak check that every test ends with.
#![allow(dead_code)]

pub mod distro;
pub mod net;
pub mod zfs;

use std::fs::{self, File};
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use vpsos::{
    CgroupPlacement, Config, ConfigBuilder, CreateOptions, ExitStatus, IdMap, Process, Runtime,
    Stdio,
};

/// Host id of the container's root in every test container.
pub const HOST_ROOT: u32 = 300_000;
/// State root of the tests.
pub const STATE_ROOT: &str = "/run/vpsos-test";
/// Cgroup parent of the tests.
pub const CGROUP_PARENT: &str = "vpsos-test";

/// Skip a test whose host lacks a feature: `SKIPPED <name>: <why>` goes to
/// the real stdout (past libtest's capture), and scripts/test.sh counts it
/// as skipped rather than passed.
#[macro_export]
macro_rules! skip_unless {
    ($cond:expr, $name:expr, $why:expr) => {
        if !$cond {
            let l = format!("SKIPPED {}: {}\n", $name, $why);
            unsafe { libc::write(1, l.as_ptr() as *const libc::c_void, l.len()) };
            return;
        }
    };
}

/// Skip unless we are root (containers need it), the way [`skip_unless!`]
/// does: `SKIPPED <test name>: not root` on the real stdout, so
/// scripts/test.sh counts the test as skipped, not passed.
#[macro_export]
macro_rules! require_root {
    () => {
        $crate::skip_unless!(
            unsafe { libc::geteuid() } == 0,
            $crate::common::test_name(),
            "not root"
        )
    };
}

/// The running test's name: libtest runs each test on a thread named
/// after it (also with `--test-threads=1`).
pub fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("unnamed-test")
        .to_string()
}

pub fn map() -> IdMap {
    IdMap::single(0, HOST_ROOT, 65536)
}

/// The shared busybox rootfs, built once per test binary.
pub fn rootfs() -> &'static Path {
    static R: OnceLock<PathBuf> = OnceLock::new();
    R.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let name = exe.file_name().unwrap().to_string_lossy().into_owned();
        let dir = PathBuf::from(format!(
            "/var/tmp/vpsos-tests/{name}-{}",
            std::process::id()
        ));
        vpsos::busybox::build_rootfs(&dir, HOST_ROOT, HOST_ROOT).expect("building busybox rootfs");
        install_probe(&dir);
        dir
    })
}

/// Copy the syscall probe (tests/probe/probe.c, built static by build.rs
/// on the host) into `root`/bin/probe: raw syscalls from inside.
// a clear message in the tests that need it beats a compile error in all
#[allow(clippy::option_env_unwrap)]
pub fn install_probe(root: &Path) {
    let probe = option_env!("VPSOS_TEST_PROBE")
        .expect("build.rs could not build tests/probe/probe.c (needs gcc and libc6-dev)");
    fs::copy(probe, root.join("bin/probe")).expect("copying the probe");
}

/// A rootfs of this test's own (so a leak check can look for processes in it).
pub fn private_rootfs(id: &str) -> PathBuf {
    let dir = PathBuf::from(format!("/var/tmp/vpsos-tests/private/{id}"));
    vpsos::busybox::build_rootfs(&dir, HOST_ROOT, HOST_ROOT).expect("building busybox rootfs");
    dir
}

/// Remove a private rootfs.
pub fn remove_rootfs(dir: &Path) {
    let _ = fs::remove_dir_all(dir);
}

thread_local! {
    /// The ids this test thread handed out, for cleanup if it panics.
    static MINE: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Once per test binary: a panicking test force-deletes the containers
/// its thread made, so a failed assertion leaves no process, cgroup or
/// state dir behind (and no container holding a capture pipe open).
fn install_cleanup_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            prev(info);
            let ids = MINE.with(|m| std::mem::take(&mut *m.borrow_mut()));
            for id in ids {
                if let Ok(ct) = runtime().load(&id) {
                    let _ = ct.delete_force();
                }
            }
        }));
    });
}

/// A unique container id for this test.
pub fn id(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    install_cleanup_hook();
    let id = format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    MINE.with(|m| m.borrow_mut().push(id.clone()));
    id
}

pub fn runtime() -> Runtime {
    Runtime::with_root(STATE_ROOT)
}

/// A system-container config builder on the shared rootfs, in the test cgroup parent.
pub fn config() -> ConfigBuilder {
    Config::builder(rootfs())
        .id_maps(map())
        .hostname("testct")
        .cgroup(CgroupPlacement::at(format!("{CGROUP_PARENT}/{{id}}")))
}

/// A pipe: (reader, writer as Stdio).
pub fn pipe() -> (File, Stdio) {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let r = unsafe { File::from_raw_fd(fds[0]) };
    let w = unsafe { OwnedFd::from_raw_fd(fds[1]) };
    (r, Stdio::Fd(w))
}

/// Read everything from a capture pipe.
pub fn read_all(mut r: File) -> String {
    let mut s = String::new();
    r.read_to_string(&mut s).unwrap();
    s
}

/// Assert that nothing of container `id` is left on the host: state dir,
/// cgroup in any hierarchy, or a process whose root is `root`.
pub fn assert_no_leaks(id: &str, root: &Path) {
    let state = Path::new(STATE_ROOT).join(id);
    assert!(!state.exists(), "state dir {} left behind", state.display());
    assert_no_monitor(id);
    for h in vpsos::cgroup::hierarchies() {
        let d = h.mountpoint.join(CGROUP_PARENT).join(id);
        assert!(!d.exists(), "cgroup {} left behind", d.display());
    }
    assert_no_process_in(root);
}

/// Every monitor of container `id` (its own, and those of exec'd
/// processes) has ended within a short grace period.
pub fn assert_no_monitor(id: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let live = monitors_of(id);
        if live.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "monitors of {id} still running: {live:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Whether `pid` runs the vpsos monitor. Its argv[0] says so from its
/// exec on; its comm only once it has renamed itself (until then it is
/// the memfd's name, `memfd:vpsos-mon`), so comm would race.
pub fn is_monitor(pid: i32) -> bool {
    let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    cmd.split(|b| *b == 0).next() == Some(b"vpsos-monitor".as_slice())
}

/// Live (not zombie) vpsos-monitor processes of container `id`.
pub fn monitors_of(id: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if !is_monitor(pid) {
            continue;
        }
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        if status
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'))
        {
            continue;
        }
        let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cmd.split(|b| *b == 0).any(|a| a == id.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

/// Run helper test `name` of this test binary in a process of its own,
/// with `env`; its combined output, after asserting it succeeded.
pub fn run_helper(name: &str, env: &[(&str, &str)]) -> String {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            name,
            "--nocapture",
            "--test-threads=1",
        ])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "helper {name} failed: {text}");
    text
}

/// The pids of this process's children (of every thread).
pub fn my_children() -> Vec<i32> {
    let mut out = Vec::new();
    for t in fs::read_dir("/proc/self/task").unwrap().flatten() {
        let s = fs::read_to_string(t.path().join("children")).unwrap_or_default();
        out.extend(s.split_whitespace().filter_map(|p| p.parse::<i32>().ok()));
    }
    out
}

/// No process has its root directory at `root`.
pub fn assert_no_process_in(root: &Path) {
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Ok(r) = fs::read_link(format!("/proc/{pid}/root")) {
            assert!(r != root, "process {pid} still runs in {}", root.display());
        }
    }
}

/// The system-container capability set, less what this process does not
/// hold (a container without a user namespace can get no more).
pub fn held_caps() -> vpsos::Capabilities {
    let mut c = vpsos::Capabilities::system_container();
    let held: Vec<vpsos::Capability> = vpsos::Capabilities::held().unwrap().permitted;
    for set in [&mut c.bounding, &mut c.effective, &mut c.permitted] {
        set.retain(|cap| held.contains(cap));
    }
    c
}

/// A system-container config builder without a user namespace (the
/// container's root is host root, held to what this process holds).
pub fn privileged_config() -> ConfigBuilder {
    Config::builder(rootfs())
        .namespace(vpsos::NamespaceKind::User, None)
        .privileged(true)
        .hostname("testct")
        .cgroup(CgroupPlacement::at(format!("{CGROUP_PARENT}/{{id}}")))
        .capabilities(held_caps())
}

/// Run `script` in `ct` with exec; (status, stdout + stderr).
pub fn exec_sh(ct: &vpsos::Container, script: &str) -> (ExitStatus, String) {
    let (r, w) = pipe();
    let p = ct
        .exec(&sh(&format!("exec 2>&1; {script}")), capture(w))
        .unwrap();
    let out = read_all(r);
    (p.wait().unwrap(), out)
}

pub fn sh(script: &str) -> Process {
    Process::new(["/bin/sh", "-c", script])
}

/// Run `script` as init, return (exit status, stdout).
pub fn run_sh(builder: vpsos::ConfigBuilder, script: &str) -> (ExitStatus, String) {
    run_init(builder.init(sh(script)))
}

/// Run the builder's init, return (exit status, stdout).
pub fn run_init(builder: vpsos::ConfigBuilder) -> (ExitStatus, String) {
    run_config(&builder.build().unwrap())
}

/// Run `cfg` to the end, delete it, check nothing is left; (status, stdout).
pub fn run_config(cfg: &vpsos::Config) -> (ExitStatus, String) {
    let id = id("run");
    let (r, w) = pipe();
    let ct = runtime().run(&id, cfg, capture(w)).unwrap();
    let out = read_all(r);
    let st = ct.wait().unwrap().status().unwrap();
    ct.delete().unwrap();
    assert_no_leaks(&id, &cfg.rootfs);
    (st, out)
}

/// Start a container whose init sleeps (and ignores the halt signal).
pub fn sleeper(name: &str) -> (String, vpsos::Container) {
    let cfg = config()
        .init(Process::new(["/bin/sleep", "1000"]))
        .build()
        .unwrap();
    let id = id(name);
    let ct = runtime().run(&id, &cfg, CreateOptions::default()).unwrap();
    (id, ct)
}

/// Options with stdout going to `w`.
pub fn capture(w: Stdio) -> CreateOptions {
    CreateOptions {
        stdout: w,
        ..Default::default()
    }
}
