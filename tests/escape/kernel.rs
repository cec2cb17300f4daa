//! Attacks on the kernel: its tunables, sysfs, modules, kexec, handles
//! around mounts, keys, capabilities.

use super::Suite;
use std::fs;
use vpsos::Container;

pub fn attacks(s: &mut Suite, ct: &Container) {
    let panic0 = fs::read_to_string("/proc/sys/kernel/panic").unwrap();
    // a host-wide switch in /sys that exists on every kernel here
    const SYSFS: &str = "/sys/kernel/rcu_expedited";
    let sys0 = fs::read_to_string(SYSFS).unwrap();
    let host_unchanged = || {
        fs::read_to_string("/proc/sys/kernel/panic").unwrap() == panic0
            && fs::read_to_string(SYSFS).unwrap() == sys0
    };
    let flip = if sys0.trim() == "0" { "1" } else { "0" };
    s.attempt(
        ct,
        "write /proc/sys",
        "echo 77 > /proc/sys/kernel/panic && echo WROTE; echo 3 > /proc/sys/vm/drop_caches && echo WROTE; \
         cat /proc/sys/kernel/panic",
        |out| !out.contains("WROTE") && out.lines().last() == Some(panic0.trim()) && host_unchanged(),
    );
    if std::path::Path::new("/proc/sysrq-trigger").exists() {
        s.attempt(
            ct,
            "write /proc/sysrq-trigger",
            "test -e /proc/sysrq-trigger && echo EXISTS; echo h > /proc/sysrq-trigger && echo WROTE",
            |out| out.contains("EXISTS") && !out.contains("WROTE"),
        );
    } else {
        s.not_applicable("write /proc/sysrq-trigger", "this kernel has no sysrq");
    }
    s.attempt(
        ct,
        "write /sys",
        &format!("cat {SYSFS} && echo {flip} > {SYSFS} && echo WROTE"),
        |out| out.lines().nth(1) == Some(sys0.trim()) && !out.contains("WROTE") && host_unchanged(),
    );
    s.attempt(
        ct,
        "remount /sys read-write and write it",
        &format!(
            "mount -o remount,rw /sys; echo remount=$?; cat {SYSFS} && echo {flip} > {SYSFS} && echo WROTE"
        ),
        |out| out.contains("remount=") && !out.contains("WROTE") && host_unchanged(),
    );

    // --- kernel code
    s.probe(
        ct,
        "load a kernel module (64- and 32-bit)",
        "probe sys 175 0 0 0; probe sys 313 0 0 0; probe sys32 128 0 0 0",
        3,
        &["EPERM"],
    );
    s.probe(
        ct,
        "kexec a new kernel",
        "probe sys 246 0 0 0 0; probe sys32 283 0 0 0 0",
        2,
        &["EPERM"],
    );
    s.probe(
        ct,
        "open_by_handle_at around mounts (shocker)",
        "probe sys 304 3 0 0",
        1,
        &["EPERM"],
    );
    s.probe(
        ct,
        "reach the host's keyring (keyctl)",
        "probe sys 250 0 -3 0",
        1,
        &["ENOSYS", "EPERM"],
    );
    // io_uring: its operations never pass the filter, and its kernel
    // side has a record of escalations (setup, enter, register)
    s.probe(
        ct,
        "set up an io_uring around seccomp (64- and 32-bit)",
        "probe sys 425 8 0; probe sys 426 0 0 0 0 0; probe sys 427 0 0 0 0; probe sys32 425 8 0",
        4,
        &["EPERM"],
    );
    // the clock through the 32-bit ABI's own calls: clock_settime64,
    // clock_adjtime64, settimeofday, adjtimex, stime
    s.probe(
        ct,
        "set the host's clock through 32-bit calls",
        "probe sys32 404 0 0; probe sys32 405 0 0; probe sys32 79 0 0; probe sys32 124 0; probe sys32 25 0",
        5,
        &["EPERM"],
    );
    s.attempt(
        ct,
        "hold module, raw I/O, time or MAC capabilities",
        "grep CapBnd /proc/self/status",
        |out| {
            let bnd = out
                .lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok());
            bnd.is_some_and(|b| {
                vpsos::config::SYSTEM_CONTAINER_DROPPED
                    .iter()
                    .all(|c| b & c.bitmask() == 0)
            })
        },
    );
}
