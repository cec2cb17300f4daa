//! Attacks on the caller's session: typing into its terminal (TIOCSTI,
//! CVE-2016-10124 in LXC) from the init and from an exec'd process, and
//! reading the keys of its session keyring where seccomp allows keyctl.

use super::Suite;
use crate::common::*;
use std::io::{BufRead, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use vpsos::{CreateOptions, Process, Stdio};

/// A pty pair: (master, slave).
fn pty() -> (OwnedFd, OwnedFd) {
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(m >= 0);
        assert_eq!(libc::grantpt(m), 0);
        assert_eq!(libc::unlockpt(m), 0);
        let s = libc::ioctl(m, libc::TIOCGPTPEER, libc::O_RDWR | libc::O_NOCTTY);
        assert!(s >= 0);
        (OwnedFd::from_raw_fd(m), OwnedFd::from_raw_fd(s))
    }
}

pub fn attacks(s: &mut Suite) {
    // the caller: a process whose controlling terminal is our pty, with
    // the terminal on its stdin, as an operator's shell running osctld
    let (master, slave) = pty();
    let mut out = std::process::Command::new(std::env::current_exe().unwrap());
    out.args([
        "--ignored",
        "--exact",
        "helper_tiocsti",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("VPSOS_HELPER_TIOCSTI", "1")
    .stdin(std::process::Stdio::from(slave))
    .stderr(std::process::Stdio::inherit());
    // SAFETY: between fork and exec: setsid and ioctl only. The helper
    // leads a session whose controlling terminal is the pty.
    let out = unsafe {
        out.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // whatever reached the terminal's input, as the operator's shell would read it
    let mut queued = 0i32;
    unsafe { libc::ioctl(master.as_raw_fd(), libc::FIONREAD, &mut queued) };
    let reports = text.matches("tiocsti ret=").count() + text.matches("open ret=").count();
    s.judge(
        "type into the caller's terminal with TIOCSTI (init and exec)",
        reports == 4 && text.contains("helper: queued="),
        !text.contains("tiocsti ret=0") && text.contains("helper: queued=0") && queued == 0,
        &text,
    );
    drop(master);

    // the caller's session keyring, holding a key
    let desc = format!("vpsos-escape-secret-{}", std::process::id());
    let key = unsafe {
        libc::syscall(
            libc::SYS_add_key,
            c"user".as_ptr(),
            std::ffi::CString::new(desc.clone()).unwrap().as_ptr(),
            c"4711".as_ptr(),
            4usize,
            -3i64, // KEY_SPEC_SESSION_KEYRING
        )
    };
    assert!(key > 0, "add_key: {}", std::io::Error::last_os_error());
    // the control: a process of the caller's finds it
    let probe = std::process::Command::new(env!("VPSOS_TEST_PROBE"))
        .args(["keysearch", &desc])
        .output()
        .unwrap();
    let host = String::from_utf8_lossy(&probe.stdout).into_owned();
    // seccomp off, as with an imported OCI profile that allows keyctl
    let cfg = config()
        .seccomp(None)
        .init(sh(&format!("probe keysearch {desc}; exec sleep 100000")))
        .build()
        .unwrap();
    let id = id("escapekeys");
    let (r, w) = pipe();
    let ct = runtime().run(&id, &cfg, capture(w)).unwrap();
    let (_, exec_out) = exec_sh(&ct, &format!("probe keysearch {desc}"));
    ct.delete_force().unwrap();
    let init_out = read_all(r);
    let inside = format!("{init_out}{exec_out}");
    unsafe { libc::syscall(libc::SYS_keyctl, 9, key, -3i64) }; // KEYCTL_UNLINK
    s.judge(
        "read a key of the caller's session keyring (seccomp off)",
        host.contains("keysearch ret=")
            && !host.contains("ret=-1")
            && inside.matches("keysearch ret=").count() == 2,
        inside.matches("errno=ENOKEY").count() == 2,
        &format!("host: {host}inside: {inside}"),
    );
    assert_no_leaks(&id, rootfs());
}

/// In the helper process: fd 0 is the test's pty, our controlling
/// terminal. The container's init and an exec'd process, both with the
/// terminal on their stdin, try to type into it; report how many bytes
/// reached its input.
pub fn helper() {
    if std::env::var_os("VPSOS_HELPER_TIOCSTI").is_none() {
        return;
    }
    // the test made the pty our controlling terminal
    assert!(
        std::fs::File::open("/dev/tty").is_ok(),
        "no controlling tty"
    );
    let cfg = config()
        .init(sh(
            "probe tiocsti -; probe tiocsti /dev/tty; exec sleep 100000",
        ))
        .build()
        .unwrap();
    let id = id("escapesti");
    let (r, w) = pipe();
    let opts = CreateOptions {
        stdin: Stdio::Inherit,
        stdout: w,
        ..Default::default()
    };
    let ct = runtime().run(&id, &cfg, opts).unwrap();
    // the init's two reports, before anything else
    let mut init_lines = std::io::BufReader::new(r).lines();
    let init_out: String = (&mut init_lines)
        .take(2)
        .map(|l| l.unwrap() + "\n")
        .collect();
    let (er, ew) = pipe();
    let p = ct
        .exec(
            &Process::new(["/bin/sh", "-c", "probe tiocsti -; probe tiocsti /dev/tty"]),
            CreateOptions {
                stdin: Stdio::Inherit,
                stdout: ew,
                ..Default::default()
            },
        )
        .unwrap();
    let mut exec_out = String::new();
    let mut er = er;
    er.read_to_string(&mut exec_out).unwrap();
    p.wait().unwrap();
    ct.delete_force().unwrap();
    let mut queued = 0i32;
    unsafe { libc::ioctl(0, libc::FIONREAD, &mut queued) };
    print!("{init_out}{exec_out}");
    println!("helper: queued={queued}");
    assert_no_leaks(&id, rootfs());
}
