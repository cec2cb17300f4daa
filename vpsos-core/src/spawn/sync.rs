//! The parent⇄child sync protocol: its named phases, in the order each
//! side passes them, and the fixed-size message that carries them over a
//! SOCK_SEQPACKET socketpair (close-on-exec, so a successful exec shows
//! as end-of-file to the parent).
//!
//! The parent is the caller's thread (it built the plan); the child is the
//! container's first process (`init`) or an exec'd process (`tenant`).
//! Both run under a vpsos monitor that is their real parent (see
//! `spawn::monitor`), but the protocol is between the caller and the child:
//!
//! | # | child                                   | parent                                   |
//! |---|-----------------------------------------|------------------------------------------|
//! | 1 | joins, unshares; `NeedMaps` (staged)     | waits for `NeedMaps` (staged only)       |
//! | 2 | waits for `Go`                           | writes id maps, rlimits, oom score; `Go` |
//! | 3 | forks into its PID ns; `Pid` + pidfd     | takes the pidfd of the real process      |
//! | 4 | mounts the rootfs; (hooks) `Hooks`, waits `HooksDone`, pivots | (hooks) runs the create hooks in its namespaces; `HooksDone` |
//! | 4 | waits `CgroupReady`                     | (v1) joins the late cgroup; `CgroupReady`|
//! | 4a| (user ns) `LockMounts`; waits `Locked` + fd, moves into it | copies its mount ns, locked; `Locked` + fd |
//! | 5 | user, caps; (exec with a terminal) a pty of its devpts, `Pty` + master | takes the master |
//! | 6 | fds, label; loads seccomp; `Listener` + fd | takes the listener (notify profiles) |
//! | 7 | init: `Ready`, then waits for the start  | create returns; run sends `Start`        |
//! | 8 | `Exec`, execs (socket closes)            | `Exec`, then end-of-file: the exec happened |
//!
//! At any step the child may instead send `Error` (stage, step, errno,
//! index) and exit; after `Ready` it also writes that message to the
//! start report file, since whoever starts the container may not be the
//! process holding the socket.

use super::sys::errno;
use crate::error::Stage;
use libc::c_int;

/// A phase of the protocol (the message kind).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Child → parent, at any point: setup failed; the child exits.
    Error = 1,
    /// Child → parent: it unshared a user namespace and waits for its maps.
    NeedMaps = 2,
    /// Child → parent: the process that entered the PID namespace was
    /// forked; its pidfd is attached, its host pid in `value`.
    Pid = 3,
    /// Child → parent (init): set up; waits for the start signal.
    Ready = 4,
    /// Parent → child: host-side setup done, go on.
    Go = 5,
    /// Parent → child (init without an exec fifo): exec now.
    Start = 6,
    /// Parent → child (v1 late cgroup): the cgroup holds you now.
    CgroupReady = 7,
    /// Child → parent: the seccomp notification listener, fd attached.
    Listener = 8,
    /// Child → parent (exec with a terminal): the master of the pty it
    /// made in the container's devpts, fd attached.
    Pty = 9,
    /// Child → parent: its mounts are made; it waits for `Locked`.
    LockMounts = 10,
    /// Parent → child: a copy of its mount namespace in which its user
    /// namespace cannot undo them, fd attached (see `spawn::lock`).
    Locked = 11,
    /// Child → parent: calling execve now. End-of-file without it means
    /// the process died (was killed) before it could exec.
    Exec = 12,
    /// Child → parent (init with create hooks): its mounts are made and
    /// it has not pivoted yet; it waits for `HooksDone`.
    Hooks = 13,
    /// Parent → child: the create hooks have run, go on.
    HooksDone = 14,
}

/// The system call (or small group of them) that failed within a
/// [`Stage`], named in the error message. `Msg::index` says which one of
/// several (a mount, a masked path, a capability, a namespace type).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Setns = 1,
    Unshare,
    Fork,
    BecomeRoot,
    TimeUnshare,
    TimeOffsets,
    TimeEnter,
    Sethostname,
    Setdomainname,
    Loopback,
    RootPropagation,
    BindRootfs,
    OpenRootfs,
    Mount,
    OpenDev,
    DeviceNode,
    DevSymlink,
    BindTerminal,
    PivotRoot,
    OpenRoot,
    Mask,
    ReadonlyPath,
    ReadonlyRoot,
    WritablePath,
    BootId,
    CgroupUnshare,
    Setsid,
    ControllingTty,
    Chdir,
    DropBounding,
    Setgroups,
    Setresgid,
    Setresuid,
    Capset,
    RaiseAmbient,
    NoNewPrivs,
    LoadSeccomp,
    SendListener,
    AppArmorExec,
    ArrangeFds,
    OpenFifo,
    WaitStart,
    Exec,
    PtyInside,
    CloseFds,
    JoinKeyring,
    LockMounts,
    EnterLocked,
    Sysctl,
    Personality,
}

impl Step {
    const ALL: [Step; 50] = [
        Step::Setns,
        Step::Unshare,
        Step::Fork,
        Step::BecomeRoot,
        Step::TimeUnshare,
        Step::TimeOffsets,
        Step::TimeEnter,
        Step::Sethostname,
        Step::Setdomainname,
        Step::Loopback,
        Step::RootPropagation,
        Step::BindRootfs,
        Step::OpenRootfs,
        Step::Mount,
        Step::OpenDev,
        Step::DeviceNode,
        Step::DevSymlink,
        Step::BindTerminal,
        Step::PivotRoot,
        Step::OpenRoot,
        Step::Mask,
        Step::ReadonlyPath,
        Step::ReadonlyRoot,
        Step::WritablePath,
        Step::BootId,
        Step::CgroupUnshare,
        Step::Setsid,
        Step::ControllingTty,
        Step::Chdir,
        Step::DropBounding,
        Step::Setgroups,
        Step::Setresgid,
        Step::Setresuid,
        Step::Capset,
        Step::RaiseAmbient,
        Step::NoNewPrivs,
        Step::LoadSeccomp,
        Step::SendListener,
        Step::AppArmorExec,
        Step::ArrangeFds,
        Step::OpenFifo,
        Step::WaitStart,
        Step::Exec,
        Step::PtyInside,
        Step::CloseFds,
        Step::JoinKeyring,
        Step::LockMounts,
        Step::EnterLocked,
        Step::Sysctl,
        Step::Personality,
    ];

    pub(crate) fn from_u32(v: u32) -> Option<Step> {
        Self::ALL.into_iter().find(|s| *s as u32 == v)
    }

    /// What the step does, for error messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Step::Setns => "setns",
            Step::Unshare => "unshare",
            Step::Fork => "clone into the PID namespace",
            Step::BecomeRoot => "becoming root of the user namespace",
            Step::TimeUnshare => "unshare(CLONE_NEWTIME)",
            Step::TimeOffsets => "writing timens_offsets",
            Step::TimeEnter => "entering the time namespace",
            Step::Sethostname => "sethostname",
            Step::Setdomainname => "setdomainname",
            Step::Loopback => "bringing lo up",
            Step::RootPropagation => "setting / propagation",
            Step::BindRootfs => "binding the rootfs",
            Step::OpenRootfs => "opening the rootfs",
            Step::Mount => "mount",
            Step::OpenDev => "opening /dev",
            Step::DeviceNode => "device node",
            Step::DevSymlink => "/dev symlink",
            Step::BindTerminal => "binding a terminal",
            Step::PivotRoot => "pivot_root",
            Step::OpenRoot => "opening /",
            Step::Mask => "masking",
            Step::ReadonlyPath => "read-only remount of",
            Step::ReadonlyRoot => "read-only remount of /",
            Step::WritablePath => "keeping writable",
            Step::BootId => "binding boot_id",
            Step::CgroupUnshare => "unshare(CLONE_NEWCGROUP)",
            Step::Setsid => "setsid",
            Step::ControllingTty => "TIOCSCTTY",
            Step::Chdir => "chdir",
            Step::DropBounding => "dropping from the bounding set",
            Step::Setgroups => "setgroups",
            Step::Setresgid => "setresgid",
            Step::Setresuid => "setresuid",
            Step::Capset => "capset",
            Step::RaiseAmbient => "raising ambient",
            Step::NoNewPrivs => "PR_SET_NO_NEW_PRIVS",
            Step::LoadSeccomp => "seccomp(SET_MODE_FILTER)",
            Step::SendListener => "handing over the listener",
            Step::AppArmorExec => "writing the exec label",
            Step::ArrangeFds => "arranging fds",
            Step::OpenFifo => "opening the exec fifo",
            Step::WaitStart => "waiting for start",
            Step::Exec => "execve",
            Step::PtyInside => "making a pty in the container's devpts",
            Step::CloseFds => "closing the host's fds (close_range)",
            Step::JoinKeyring => "joining a session keyring of its own",
            Step::LockMounts => "asking for the locked mount namespace",
            Step::EnterLocked => "entering the locked mount namespace",
            Step::Sysctl => "writing a /proc/sys file",
            Step::Personality => "personality(2)",
        }
    }
}

/// One message. `stage`, `step`, `errno` and `index` are for `Error`;
/// `value` carries a pid for `Pid`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Msg {
    pub kind: u32,
    pub stage: u32,
    pub step: u32,
    pub errno: i32,
    pub index: u32,
    pub value: i64,
}

impl Msg {
    pub fn new(phase: Phase) -> Msg {
        Msg {
            kind: phase as u32,
            ..Msg::default()
        }
    }

    /// A failure report.
    pub fn error(stage: Stage, step: Step, errno: i32, index: u32) -> Msg {
        Msg {
            kind: Phase::Error as u32,
            stage: stage.code(),
            step: step as u32,
            errno,
            index,
            value: 0,
        }
    }

    pub fn is(&self, phase: Phase) -> bool {
        self.kind == phase as u32
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        // SAFETY: Msg is repr(C) plain data.
        unsafe {
            std::slice::from_raw_parts(self as *const Msg as *const u8, std::mem::size_of::<Msg>())
        }
    }

    /// A message from its bytes (a start report file).
    pub(crate) fn from_bytes(b: &[u8]) -> Option<Msg> {
        if b.len() != std::mem::size_of::<Msg>() {
            return None;
        }
        let mut m = Msg::default();
        // SAFETY: exactly size_of::<Msg>() bytes into plain data.
        unsafe {
            std::ptr::copy_nonoverlapping(b.as_ptr(), &mut m as *mut Msg as *mut u8, b.len());
        }
        Some(m)
    }
}

/// Send one message (async-signal-safe). MSG_NOSIGNAL: a peer that died
/// gives EPIPE, never a SIGPIPE in the host process.
pub(crate) fn send(fd: c_int, m: &Msg) -> Result<(), c_int> {
    let b = m.as_bytes();
    loop {
        // SAFETY: valid buffer; one SEQPACKET message.
        let r = unsafe {
            libc::send(
                fd,
                b.as_ptr() as *const libc::c_void,
                b.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if r >= 0 {
            return Ok(());
        }
        let e = errno();
        if e != libc::EINTR {
            return Err(e);
        }
    }
}

/// Receive one message; `Ok(None)` at end-of-file (async-signal-safe).
pub(crate) fn recv(fd: c_int) -> Result<Option<Msg>, c_int> {
    recv_with_fd(fd).map(|o| o.map(|(m, _)| m))
}

/// Room for one fd in a control message (CMSG_SPACE(sizeof(int)) on
/// 64-bit and 32-bit Linux), aligned for cmsghdr.
#[repr(C, align(8))]
struct FdCmsg([u8; 24]);

/// Send `m` with `pass` attached (async-signal-safe: stack buffers only).
pub(crate) fn send_with_fd(fd: c_int, m: &Msg, pass: c_int) -> Result<(), c_int> {
    let b = m.as_bytes();
    let mut iov = libc::iovec {
        iov_base: b.as_ptr() as *mut libc::c_void,
        iov_len: b.len(),
    };
    let mut buf = FdCmsg([0; 24]);
    // SAFETY: msghdr over our stack buffers; CMSG_* only compute offsets
    // inside `buf`, which has room for one int.
    unsafe {
        let mut hdr: libc::msghdr = std::mem::zeroed();
        hdr.msg_iov = &mut iov;
        hdr.msg_iovlen = 1;
        hdr.msg_control = buf.0.as_mut_ptr() as *mut libc::c_void;
        hdr.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<c_int>() as u32) as _;
        let c = libc::CMSG_FIRSTHDR(&hdr);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<c_int>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut c_int, pass);
        loop {
            if libc::sendmsg(fd, &hdr, libc::MSG_NOSIGNAL) >= 0 {
                return Ok(());
            }
            let e = errno();
            if e != libc::EINTR {
                return Err(e);
            }
        }
    }
}

/// Receive one message and the fd attached to it, if any (an fd the
/// child passes is close-on-exec here).
pub(crate) fn recv_with_fd(
    fd: c_int,
) -> Result<Option<(Msg, Option<std::os::fd::OwnedFd>)>, c_int> {
    use std::os::fd::FromRawFd;
    let mut m = Msg::default();
    let mut iov = libc::iovec {
        iov_base: &mut m as *mut Msg as *mut libc::c_void,
        iov_len: std::mem::size_of::<Msg>(),
    };
    let mut buf = FdCmsg([0; 24]);
    // SAFETY: msghdr over our buffers; the kernel fills at most their sizes.
    unsafe {
        let mut hdr: libc::msghdr = std::mem::zeroed();
        hdr.msg_iov = &mut iov;
        hdr.msg_iovlen = 1;
        hdr.msg_control = buf.0.as_mut_ptr() as *mut libc::c_void;
        hdr.msg_controllen = buf.0.len() as _;
        let r = loop {
            let r = libc::recvmsg(fd, &mut hdr, libc::MSG_CMSG_CLOEXEC);
            if r >= 0 || errno() != libc::EINTR {
                break r;
            }
        };
        if r < 0 {
            return Err(errno());
        }
        if r == 0 {
            return Ok(None);
        }
        if r as usize != std::mem::size_of::<Msg>() {
            return Err(libc::EPROTO);
        }
        let c = libc::CMSG_FIRSTHDR(&hdr);
        let passed = if !c.is_null()
            && (*c).cmsg_level == libc::SOL_SOCKET
            && (*c).cmsg_type == libc::SCM_RIGHTS
        {
            let raw = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const c_int);
            Some(std::os::fd::OwnedFd::from_raw_fd(raw))
        } else {
            None
        };
        Ok(Some((m, passed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_and_steps_round_trip_their_numbers() {
        for s in Step::ALL {
            assert_eq!(Step::from_u32(s as u32), Some(s));
            assert!(!s.name().is_empty());
        }
        let m = Msg::error(Stage::Mount, Step::Mount, libc::ENOENT, 3);
        let back = Msg::from_bytes(m.as_bytes()).unwrap();
        assert!(back.is(Phase::Error));
        assert_eq!(
            (back.step, back.errno, back.index),
            (Step::Mount as u32, 2, 3)
        );
    }
}
