//! Signal names and numbers as runc takes them (`KILL`, `SIGKILL`, `9`),
//! and forwarding the signals a foreground `run`/`exec` receives.

use std::os::fd::AsRawFd;

const NAMES: [(&str, i32); 31] = [
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("PWR", libc::SIGPWR),
];

/// A signal by name (any case, with or without `SIG`), `RTMIN+n`, or number.
pub fn parse(s: &str) -> Result<i32, String> {
    let bad = || format!("unknown signal {s:?}");
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=64).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if let Some(n) = name.strip_prefix("RTMIN+") {
        let n: i32 = n.parse().map_err(|_| bad())?;
        let sig = libc::SIGRTMIN() + n;
        return if sig <= libc::SIGRTMAX() {
            Ok(sig)
        } else {
            Err(bad())
        };
    }
    if name == "RTMIN" {
        return Ok(libc::SIGRTMIN());
    }
    NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .ok_or_else(bad)
}

/// Signals a foreground `run`/`exec` passes on to its process.
const FORWARDED: [i32; 8] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGCONT,
];

/// Block the forwarded signals (before any thread starts) and return a
/// signalfd that reads them.
pub fn block_forwarded() -> Result<std::os::fd::OwnedFd, String> {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for s in FORWARDED {
        if let Ok(sig) = Signal::try_from(s) {
            set.add(sig);
        }
    }
    set.thread_block()
        .map_err(|e| format!("blocking signals: {e}"))?;
    let fd = nix::sys::signalfd::SignalFd::with_flags(
        &set,
        nix::sys::signalfd::SfdFlags::SFD_CLOEXEC | nix::sys::signalfd::SfdFlags::SFD_NONBLOCK,
    )
    .map_err(|e| format!("signalfd: {e}"))?;
    // SignalFd owns the fd; take it out as a plain OwnedFd
    let raw = fd.as_raw_fd();
    // SAFETY: dup of a valid fd.
    let dup = unsafe { libc::fcntl(raw, libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return Err("dup of the signalfd".into());
    }
    // SAFETY: a new fd of ours.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(dup) })
}

/// Read one pending signal from `fd` (made by [`block_forwarded`]).
pub fn read_one(fd: &std::os::fd::OwnedFd) -> Option<i32> {
    let mut info = [0u8; 128];
    // SAFETY: read into our buffer.
    let n = unsafe { libc::read(fd.as_raw_fd(), info.as_mut_ptr() as *mut libc::c_void, 128) };
    (n == 128).then(|| u32::from_ne_bytes([info[0], info[1], info[2], info[3]]) as i32)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("KILL"), Ok(9));
        assert_eq!(parse("sigterm"), Ok(15));
        assert_eq!(parse("SIGWINCH"), Ok(28));
        assert_eq!(parse("9"), Ok(9));
        assert_eq!(parse("RTMIN+1"), Ok(libc::SIGRTMIN() + 1));
        assert!(parse("FOO").is_err());
        assert!(parse("0").is_err());
        assert!(parse("65").is_err());
    }
}
