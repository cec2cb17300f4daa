//! A container outlives its creator: its monitor holds the console and
//! ttys, keeps a console log and records how the init ended, for any
//! process to read; the caller is left with no child of its own. Run as
//! root.

mod common;

use common::*;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};
use vpsos::config::Hook;
use vpsos::{CreateOptions, EndReason, ErrorKind, ExitStatus, InitExit, Process, Status};

/// Read from an attached terminal until `needle` shows (or 10 s pass).
fn read_until(s: &mut UnixStream, needle: &str) -> String {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut all = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    while !all.contains(needle) && Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => all.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(_) => {}
        }
    }
    all
}

/// The creator starts a container and exits; another process finds its
/// console: what it wrote meanwhile in the log, what it writes now on a
/// live attach (two attachers at once, one leaving without hanging it up),
/// input delivered; then how the init ended.
#[test]
fn console_outlives_the_creator() {
    require_root!();
    let id = id("concreator");
    // the init talks on /dev/console (not its stdio): tick every 20 ms,
    // and answer a line typed on the console
    let script = "exec </dev/console >/dev/console 2>&1; i=0; \
        while :; do echo tick$i; i=$((i+1)); if read -t 0.02 l; then echo got:$l; \
        [ \"$l\" = quit ] && exit 7; fi; done";
    let out = run_helper(
        "helper_start_and_leave",
        &[("VPSOS_HELPER_ID", &id), ("VPSOS_HELPER_SCRIPT", script)],
    );
    assert!(out.contains("helper: started"), "{out}");
    let ct = runtime().load(&id).unwrap();
    assert_eq!(ct.state().unwrap().status, Status::Running);
    // nobody attached: the init keeps writing (the monitor reads)
    std::thread::sleep(Duration::from_millis(300));
    let log = String::from_utf8_lossy(&ct.console_log().unwrap()).into_owned();
    assert!(log.contains("tick0") && log.contains("tick5"), "log: {log}");

    let mut a = UnixStream::from(ct.attach_console().unwrap());
    let mut b = UnixStream::from(ct.attach_console().unwrap());
    let seen_a = read_until(&mut a, "tick");
    let seen_b = read_until(&mut b, "tick");
    assert!(
        seen_a.contains("tick") && seen_b.contains("tick"),
        "{seen_a} / {seen_b}"
    );
    drop(b); // detaching is no hang-up
    a.write_all(b"hello\n").unwrap();
    let seen = read_until(&mut a, "got:hello");
    assert!(seen.contains("got:hello"), "{seen}");
    a.write_all(b"quit\n").unwrap();
    let how = ct.wait().unwrap();
    assert_eq!(how, InitExit::Status(ExitStatus::Exited(7)));
    assert_eq!(how.reason(), EndReason::Exit(7));
    // the log survives the stop, until delete
    assert!(String::from_utf8_lossy(&ct.console_log().unwrap()).contains("got:hello"));
    ct.delete().unwrap();
    assert_no_leaks(&id, rootfs());
}

/// Run by other tests in a process of its own: start container
/// `VPSOS_HELPER_ID` running `VPSOS_HELPER_SCRIPT`, then exit at once.
#[test]
#[ignore = "helper: runs only when spawned by another test"]
fn helper_start_and_leave() {
    let (Ok(id), Ok(script)) = (
        std::env::var("VPSOS_HELPER_ID"),
        std::env::var("VPSOS_HELPER_SCRIPT"),
    ) else {
        return;
    };
    let cfg = config().init(sh(&script)).build().unwrap();
    runtime().run(&id, &cfg, CreateOptions::default()).unwrap();
    println!("helper: started");
}

/// A reboot and a halt inside, read by a process that did not make the
/// container, after its creator has gone.
#[test]
fn reboot_and_halt_are_told_apart_after_the_creator_died() {
    require_root!();
    for (cmd, reason, sig) in [
        ("reboot -f", EndReason::Reboot, libc::SIGHUP),
        ("poweroff -f", EndReason::Halt, libc::SIGINT),
        ("halt -f", EndReason::Halt, libc::SIGINT),
    ] {
        let id = id("reboot");
        let script = format!("sleep 0.2; {cmd}; sleep 10");
        run_helper(
            "helper_start_and_leave",
            &[("VPSOS_HELPER_ID", &id), ("VPSOS_HELPER_SCRIPT", &script)],
        );
        let ct = runtime().load(&id).unwrap();
        let how = ct.wait().unwrap();
        assert_eq!(how, InitExit::Status(ExitStatus::Signaled(sig)), "{cmd}");
        assert_eq!(how.reason(), reason, "{cmd}");
        // the same answer for a later handle, and for stop
        let again = runtime().load(&id).unwrap();
        assert_eq!(again.try_wait().unwrap(), Some(how));
        let stop = again.stop(Duration::from_secs(1)).unwrap();
        assert_eq!((stop.exit, stop.killed), (how, false));
        again.delete().unwrap();
        assert_no_leaks(&id, rootfs());
    }
}

/// The caller has no child of its own once a container runs (its
/// `waitpid(-1)` cannot steal anything), stdio defaults to /dev/null, and
/// the monitor is invisible inside, cannot be rewritten, and its death
/// does not end the container.
#[test]
fn the_monitor_is_nobody_s_child_and_its_death_is_survivable() {
    require_root!();
    let id = id("monitor");
    let cfg = config()
        .init(Process::new(["/bin/sleep", "1000"]))
        .build()
        .unwrap();
    let ct = runtime().run(&id, &cfg, CreateOptions::default()).unwrap();
    let st = ct.state().unwrap();
    let (pid, mon) = (st.pid.unwrap(), st.monitor_pid.unwrap());
    let mine = my_children();
    assert!(
        !mine.contains(&pid) && !mine.contains(&mon),
        "children: {mine:?}"
    );
    let ppid = |p: i32| -> i32 {
        let s = std::fs::read_to_string(format!("/proc/{p}/status")).unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix("PPid:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(ppid(pid), mon, "the monitor is the init's parent");
    assert_ne!(ppid(mon), std::process::id() as i32);
    // stdio of the init: /dev/null unless asked otherwise
    for fd in 0..3 {
        let t = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap();
        assert_eq!(t, std::path::Path::new("/dev/null"), "fd {fd}");
    }
    // its binary is a sealed memfd: not even host root can write it
    let exe = std::fs::read_link(format!("/proc/{mon}/exe")).unwrap();
    assert!(
        exe.to_string_lossy().contains("memfd:vpsos-monitor"),
        "{exe:?}"
    );
    let w = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{mon}/exe"));
    assert!(w.is_err(), "the monitor's binary opened for writing");
    // inside, nothing of it is visible
    let (_, ps) = exec_sh(&ct, "cat /proc/[0-9]*/comm");
    assert!(!ps.contains("vpsos-monitor"), "{ps}");

    // the monitor dies: the container runs on, and says so
    unsafe { libc::kill(mon, libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(100));
    let st = ct.state().unwrap();
    assert_eq!((st.status, st.monitor_pid), (Status::Running, None));
    assert_eq!(ct.attach_console().unwrap_err().kind(), ErrorKind::NotFound);
    let how = ct.stop(Duration::from_millis(200)).unwrap();
    assert_eq!(how.exit, InitExit::Unknown, "no monitor left to record it");
    ct.delete().unwrap();
    assert_no_leaks(&id, rootfs());
}

/// tty1..N are terminals of their own, attachable like the console.
#[test]
fn ttys_are_ptys_the_monitor_holds() {
    require_root!();
    let id = id("ttys");
    let cfg = config()
        .init(Process::new(["/bin/sleep", "1000"]))
        .build()
        .unwrap();
    let ct = runtime().run(&id, &cfg, CreateOptions::default()).unwrap();
    assert_eq!(ct.terminals().unwrap(), 5);
    let (st, out) = exec_sh(&ct, "for t in console tty1 tty4; do [ -c /dev/$t ] && echo $t; done; [ -e /dev/tty5 ] || echo no5");
    assert!(st.success(), "{out}");
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["console", "tty1", "tty4", "no5"]
    );
    let mut t2 = UnixStream::from(ct.attach_tty(2).unwrap());
    let p = ct
        .exec(
            &sh("sleep 0.1; echo on-tty2 > /dev/tty2"),
            CreateOptions::default(),
        )
        .unwrap();
    assert!(read_until(&mut t2, "on-tty2").contains("on-tty2"));
    assert!(p.wait().unwrap().success());
    ct.resize_terminal(2, 40, 100).unwrap();
    let (_, size) = exec_sh(&ct, "stty size < /dev/tty2");
    assert_eq!(size.trim(), "40 100");
    assert_eq!(ct.attach_tty(9).unwrap_err().kind(), ErrorKind::NotFound);
    ct.delete_force().unwrap();
    assert_no_leaks(&id, rootfs());
}

/// An exec'd process nobody reaps cannot hold `stop`, its status is still
/// there for its handle afterwards, and a dropped handle leaves nothing.
#[test]
fn exec_d_processes_never_hold_stop() {
    require_root!();
    let (id, ct) = sleeper("unreaped");
    let done = ct.exec(&sh("exit 4"), CreateOptions::default()).unwrap();
    let long = ct
        .exec(
            &Process::new(["/bin/sleep", "1000"]),
            CreateOptions::default(),
        )
        .unwrap();
    let dropped = ct
        .exec(
            &Process::new(["/bin/sleep", "1000"]),
            CreateOptions::default(),
        )
        .unwrap();
    // each has a monitor of its own as parent, and none of them is ours
    let parent = |pid: i32| -> i32 {
        let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix("PPid:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let mons: Vec<i32> = [long.pid(), dropped.pid()]
        .iter()
        .map(|p| parent(*p))
        .collect();
    let comm = |pid: i32| std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    for m in &mons {
        assert!(is_monitor(*m), "parent {m}: {}", comm(*m));
        assert!(!my_children().contains(m), "monitor {m} is our child");
    }
    let dropped_pid = dropped.pid();
    drop(dropped);
    let t = Instant::now();
    let how = ct.stop(Duration::from_millis(300)).unwrap();
    assert!(how.killed);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        t.elapsed()
    );
    assert_eq!(done.wait().unwrap(), ExitStatus::Exited(4));
    assert_eq!(long.wait().unwrap(), ExitStatus::Signaled(libc::SIGKILL));
    // the dropped one and its monitor are gone too (a zombie at most,
    // re-parented to whoever reaps orphans)
    let running = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
            !s.lines()
                .any(|l| l.starts_with("State:") && l.contains('Z'))
        })
    };
    let gone = || {
        (!running(dropped_pid) || !comm(dropped_pid).starts_with("sleep"))
            && (!running(mons[1]) || !is_monitor(mons[1]))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gone() {
        assert!(
            Instant::now() < deadline,
            "the dropped process or its monitor lives on"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    ct.delete().unwrap();
    assert_no_leaks(&id, rootfs());
}

/// wait with a timeout never kills; pidfd() serves an event loop.
#[test]
fn wait_timeout_and_pidfd() {
    require_root!();
    let (id, ct) = sleeper("waitto");
    let t = Instant::now();
    assert_eq!(ct.wait_timeout(Duration::from_millis(150)).unwrap(), None);
    assert!(t.elapsed() >= Duration::from_millis(150));
    assert_eq!(ct.try_wait().unwrap(), None);
    assert_eq!(ct.state().unwrap().status, Status::Running);
    let fd = ct.pidfd().unwrap();
    let mut p = libc::pollfd {
        fd: std::os::fd::AsRawFd::as_raw_fd(&fd),
        events: libc::POLLIN,
        revents: 0,
    };
    assert_eq!(
        unsafe { libc::poll(&mut p, 1, 0) },
        0,
        "readable while it runs"
    );
    ct.kill(libc::SIGKILL).unwrap();
    assert_eq!(
        unsafe { libc::poll(&mut p, 1, 5000) },
        1,
        "readable once it ended"
    );
    assert_eq!(
        ct.wait_timeout(Duration::from_secs(5)).unwrap(),
        Some(InitExit::Status(ExitStatus::Signaled(libc::SIGKILL)))
    );
    ct.delete().unwrap();
    assert_no_leaks(&id, rootfs());
}

/// A cancel token ends a wait at once, from another thread.
#[test]
fn a_cancel_interrupts_a_wait() {
    require_root!();
    let (id, ct) = sleeper("cancel");
    let c = vpsos::until::Cancel::new().unwrap();
    let c2 = c.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        c2.cancel();
    });
    let e = ct
        .wait_until(&vpsos::until::Until::forever().or_cancel(&c))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    t.join().unwrap();
    // the same through a scope, for a call that takes no bound
    let e = vpsos::until::scoped(vpsos::until::Until::forever().or_cancel(&c), || ct.wait())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    ct.delete_force().unwrap();
    assert_no_leaks(&id, rootfs());
}

/// A caller that ignores SIGCHLD (Python's `signal(SIGCHLD, SIG_IGN)`)
/// still gets every status: its monitors reset the disposition before
/// they fork, so the kernel does not reap their children for them.
#[test]
fn a_caller_ignoring_sigchld_still_gets_the_statuses() {
    require_root!();
    let out = run_helper(
        "helper_ignore_sigchld_and_wait",
        &[("VPSOS_HELPER_ID", &id("sigign"))],
    );
    assert!(out.contains("helper: statuses kept"), "{out}");
}

/// Run by the test above in a process of its own (the disposition is
/// per process): ignore SIGCHLD, run a container and an exec'd process
/// that exit with codes of their own, wait for both.
#[test]
#[ignore = "helper: runs only when spawned by another test"]
fn helper_ignore_sigchld_and_wait() {
    let Ok(id) = std::env::var("VPSOS_HELPER_ID") else {
        return;
    };
    // the rootfs first: building it runs commands, which ignoring SIGCHLD breaks
    let mut cfg = config().init(sh("sleep 0.5; exit 7")).build().unwrap();
    // hooks: their statuses are the runtime's too
    cfg.hooks.create_runtime.push(Hook::new("/bin/true"));
    cfg.hooks.poststop.push(Hook::new("/bin/true"));
    let mut failing = cfg.clone();
    failing.hooks.create_runtime = vec![Hook::new("/bin/false")];
    // SAFETY: the helper runs alone in its own process (--test-threads=1)
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    let e = runtime()
        .run(&id, &failing, CreateOptions::default())
        .unwrap_err();
    assert!(e.to_string().contains("exit status: 1"), "{e}");
    let ct = runtime().run(&id, &cfg, CreateOptions::default()).unwrap();
    let p = ct.exec(&sh("exit 5"), CreateOptions::default()).unwrap();
    let x = p.wait_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(x, Some(ExitStatus::Exited(5)));
    let x = ct.wait_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(x, Some(InitExit::Status(ExitStatus::Exited(7))));
    ct.delete().unwrap();
    assert_no_monitor(&id);
    println!("helper: statuses kept");
}
