//! The one public error type of vpsos.
//!
//! Every fallible call returns [`Error`]. Its [`kind`](Error::kind) is a
//! stable enum that bindings map to their own exception classes; its message
//! says what was being done, to what, and why it failed, e.g.
//! `starting container ct1: child failed at mount /proc: EPERM`.

use std::fmt;

/// Stable classification of an [`Error`].
///
/// Each kind has a fixed number ([`ErrorKind::code`]), the same in every
/// release and in the C ABI (`VPSOS_E_*`): new kinds get new numbers,
/// numbers are never reused.
///
/// ```
/// use vpsos_core::{Error, ErrorKind};
/// let e = Error::new(ErrorKind::Busy, "deleting container ct1: it is still running");
/// assert_eq!(e.kind(), ErrorKind::Busy);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u32)]
pub enum ErrorKind {
    /// The container description (or another argument) is invalid.
    InvalidConfig = 1,
    /// The named container, file or object does not exist.
    NotFound = 2,
    /// Something with that name already exists.
    AlreadyExists = 3,
    /// The kernel refused for lack of privilege.
    PermissionDenied = 4,
    /// The host lacks a kernel or host feature the request needs.
    Unsupported = 5,
    /// The object is in use or in the wrong state (e.g. deleting a running container).
    Busy = 6,
    /// The container's child process failed during setup; see [`Error::stage`].
    Child = 7,
    /// Any other I/O or system-call failure.
    Io = 8,
    /// An external tool failed; the message carries its stderr.
    Command = 9,
    /// A blocking call was cancelled by the caller (a
    /// [`Cancel`](crate::until::Cancel) fired).
    Cancelled = 10,
}

impl ErrorKind {
    const ALL: [ErrorKind; 10] = [
        ErrorKind::InvalidConfig,
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::PermissionDenied,
        ErrorKind::Unsupported,
        ErrorKind::Busy,
        ErrorKind::Child,
        ErrorKind::Io,
        ErrorKind::Command,
        ErrorKind::Cancelled,
    ];

    /// Its stable number (`InvalidConfig` is 1; 0 is "no error" in the C ABI).
    ///
    /// ```
    /// use vpsos_core::ErrorKind;
    /// assert_eq!(ErrorKind::NotFound.code(), 2);
    /// assert_eq!(ErrorKind::from_code(2), Some(ErrorKind::NotFound));
    /// assert_eq!(ErrorKind::from_code(0), None);
    /// ```
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The kind with number `code`, if there is one.
    pub fn from_code(code: u32) -> Option<ErrorKind> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// Where in the child's setup (between clone and exec) a failure happened.
///
/// Each stage has a fixed number ([`Stage::code`]), the same in every
/// release and in the C ABI: new stages get new numbers.
///
/// ```
/// use vpsos_core::Stage;
/// assert_eq!(Stage::PivotRoot.to_string(), "pivot_root");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u32)]
pub enum Stage {
    /// Waiting on or talking over the parent⇄child sync socket.
    Sync = 0,
    /// Joining an existing namespace with setns(2).
    JoinNamespace = 1,
    /// Creating namespaces with unshare(2).
    Unshare = 2,
    /// Forking the process that enters a new PID namespace.
    Fork = 3,
    /// Setting up the time namespace offsets.
    TimeNamespace = 4,
    /// Creating the cgroup namespace.
    CgroupNamespace = 5,
    /// Setting mount propagation or binding the rootfs.
    RootfsPrepare = 6,
    /// Mounting one entry of the mount list (the message names it).
    Mount = 7,
    /// Creating device nodes under /dev.
    Devices = 8,
    /// Setting up the console pty.
    Console = 9,
    /// pivot_root(2) into the rootfs.
    PivotRoot = 10,
    /// Masking or read-only-remounting paths.
    MaskPaths = 11,
    /// Setting hostname or domain name.
    Hostname = 12,
    /// Bringing up the loopback interface.
    Loopback = 13,
    /// Waiting for the start signal on the exec fifo.
    ExecFifo = 14,
    /// Switching to the configured uid/gid/groups.
    SetUser = 15,
    /// Applying capability sets.
    Capabilities = 16,
    /// Setting no_new_privs, umask or the working directory.
    ProcessAttrs = 17,
    /// Loading the seccomp filter, or handing its listener to the parent.
    Seccomp = 18,
    /// Setting the AppArmor label to exec into.
    AppArmor = 19,
    /// execve(2) of the init or exec'd process.
    Exec = 20,
    /// Joining a session keyring of its own (the caller's stays out of reach).
    Keyring = 21,
    /// Moving into a mount namespace whose mounts the container cannot
    /// undo (masks, read-only paths, /proc and /sys locked).
    LockMounts = 22,
    /// Writing the container's kernel parameters (`sysctl`) or setting
    /// its execution domain (`personality`).
    Sysctl = 23,
}

impl Stage {
    pub(crate) const ALL: [Stage; 24] = [
        Stage::Sync,
        Stage::JoinNamespace,
        Stage::Unshare,
        Stage::Fork,
        Stage::TimeNamespace,
        Stage::CgroupNamespace,
        Stage::RootfsPrepare,
        Stage::Mount,
        Stage::Devices,
        Stage::Console,
        Stage::PivotRoot,
        Stage::MaskPaths,
        Stage::Hostname,
        Stage::Loopback,
        Stage::ExecFifo,
        Stage::SetUser,
        Stage::Capabilities,
        Stage::ProcessAttrs,
        Stage::Seccomp,
        Stage::AppArmor,
        Stage::Exec,
        Stage::Keyring,
        Stage::LockMounts,
        Stage::Sysctl,
    ];

    /// Its stable number (`Sync` is 0).
    ///
    /// ```
    /// use vpsos_core::Stage;
    /// assert_eq!(Stage::Mount.code(), 7);
    /// assert_eq!(Stage::from_code(7), Some(Stage::Mount));
    /// ```
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The stage with number `code`, if there is one.
    pub fn from_code(code: u32) -> Option<Stage> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    fn name(self) -> &'static str {
        match self {
            Stage::Sync => "sync",
            Stage::JoinNamespace => "setns",
            Stage::Unshare => "unshare",
            Stage::Fork => "fork into pid namespace",
            Stage::TimeNamespace => "time namespace",
            Stage::CgroupNamespace => "cgroup namespace",
            Stage::RootfsPrepare => "rootfs prepare",
            Stage::Mount => "mount",
            Stage::Devices => "device nodes",
            Stage::Console => "console",
            Stage::PivotRoot => "pivot_root",
            Stage::MaskPaths => "masked/read-only paths",
            Stage::Hostname => "sethostname",
            Stage::Loopback => "loopback up",
            Stage::ExecFifo => "exec fifo",
            Stage::SetUser => "setuid/setgid",
            Stage::Capabilities => "capabilities",
            Stage::ProcessAttrs => "process attributes",
            Stage::Seccomp => "seccomp",
            Stage::AppArmor => "apparmor exec label",
            Stage::Exec => "exec",
            Stage::Keyring => "session keyring",
            Stage::LockMounts => "locking the mounts",
            Stage::Sysctl => "sysctl",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error type of every vpsos call.
///
/// ```
/// use vpsos_core::{Error, ErrorKind};
/// let e = Error::from_errno(libc::ENOENT, "opening /nonexistent");
/// assert_eq!(e.kind(), ErrorKind::NotFound);
/// assert_eq!(e.errno(), Some(libc::ENOENT));
/// assert!(e.to_string().starts_with("opening /nonexistent: "));
/// let e = e.context("starting container ct1");
/// assert!(e.to_string().starts_with("starting container ct1: opening"));
/// ```
pub struct Error {
    kind: ErrorKind,
    message: String,
    errno: Option<i32>,
    stage: Option<Stage>,
    field: Option<String>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// An error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            errno: None,
            stage: None,
            field: None,
            source: None,
        }
    }

    /// The same error as another kind, where the caller knows better than
    /// the errno (libseccomp's EINVAL is a profile it refuses: a bad
    /// config, not a failed system call).
    pub(crate) fn with_kind(mut self, kind: ErrorKind) -> Error {
        self.kind = kind;
        self
    }

    /// An error from an errno; the kind follows from the errno
    /// (ENOENT → NotFound, EPERM/EACCES → PermissionDenied, EEXIST →
    /// AlreadyExists, EBUSY → Busy, ENOSYS/EOPNOTSUPP → Unsupported).
    pub fn from_errno(errno: i32, what: impl Into<String>) -> Error {
        let kind = kind_of_errno(errno);
        let mut e = Error::new(kind, format!("{}: {}", what.into(), errno_name(errno)));
        e.errno = Some(errno);
        e
    }

    /// An [`ErrorKind::InvalidConfig`] error naming the offending field.
    pub fn invalid(field: impl Into<String>, why: impl fmt::Display) -> Error {
        let field = field.into();
        let mut e = Error::new(ErrorKind::InvalidConfig, format!("invalid {field}: {why}"));
        e.field = Some(field);
        e
    }

    /// An [`ErrorKind::Unsupported`] error: the host lacks `feature`.
    pub fn unsupported(what: impl fmt::Display) -> Error {
        Error::new(
            ErrorKind::Unsupported,
            format!("not supported on this host: {what}"),
        )
    }

    /// A child-side setup failure at `stage` with `errno`.
    pub fn child(stage: Stage, detail: &str, errno: i32) -> Error {
        let what = if detail.is_empty() {
            format!("child failed at {stage}")
        } else {
            format!("child failed at {stage} {detail}")
        };
        let mut e = Error::from_errno(errno, what);
        e.kind = ErrorKind::Child;
        e.stage = Some(stage);
        e
    }

    /// Prefix the message with what was being done: `"<what>: <message>"`.
    pub fn context(mut self, what: impl fmt::Display) -> Error {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// Append `more` to the message: `"<message>; <more>"`.
    ///
    /// ```
    /// let e = vpsos_core::Error::new(vpsos_core::ErrorKind::Io, "a failed").context_after("b too");
    /// assert_eq!(e.to_string(), "a failed; b too");
    /// ```
    pub fn context_after(mut self, more: impl fmt::Display) -> Error {
        self.message = format!("{}; {more}", self.message);
        self
    }

    /// The stable classification.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The errno behind the failure, where there is one.
    pub fn errno(&self) -> Option<i32> {
        self.errno
    }

    /// For [`ErrorKind::Child`], the setup stage that failed.
    pub fn stage(&self) -> Option<Stage> {
        self.stage
    }

    /// For [`ErrorKind::InvalidConfig`], the offending field (e.g. `process.args`).
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// The full message (same as `Display`).
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        self.source = Some(Box::new(source));
        self
    }
}

/// The kind that an errno maps to.
fn kind_of_errno(errno: i32) -> ErrorKind {
    match errno {
        libc::ENOENT | libc::ESRCH => ErrorKind::NotFound,
        libc::EPERM | libc::EACCES => ErrorKind::PermissionDenied,
        libc::EEXIST => ErrorKind::AlreadyExists,
        libc::EBUSY => ErrorKind::Busy,
        libc::ENOSYS | libc::EOPNOTSUPP => ErrorKind::Unsupported,
        // EINVAL says the kernel refused an argument, not which: the
        // message names the call; InvalidConfig is for vpsos's own checks
        _ => ErrorKind::Io,
    }
}

/// `EPERM (Operation not permitted)`: the symbolic name and the text.
pub(crate) fn errno_name(errno: i32) -> String {
    let name = nix::errno::Errno::from_raw(errno);
    format!("{name:?} ({})", name.desc())
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({:?}: {})", self.kind, self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|b| b.as_ref() as &(dyn std::error::Error + 'static))
    }
}

impl From<nix::errno::Errno> for Error {
    fn from(e: nix::errno::Errno) -> Error {
        Error::from_errno(e as i32, "system call")
    }
}

/// Attach "what was being done" to results from std and nix.
pub(crate) trait ResultExt<T> {
    /// Map the error into an [`Error`] whose message starts with `what`.
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> ResultExt<T> for std::result::Result<T, std::io::Error> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| match e.raw_os_error() {
            Some(n) => Error::from_errno(n, what()),
            None => Error::new(ErrorKind::Io, format!("{}: {e}", what())).with_source(e),
        })
    }
}

impl<T> ResultExt<T> for std::result::Result<T, nix::errno::Errno> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::from_errno(e as i32, what()))
    }
}

impl<T> ResultExt<T> for Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| e.context(what()))
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_stay_put() {
        for s in Stage::ALL {
            assert_eq!(Stage::from_code(s.code()), Some(s));
        }
        for k in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_code(k.code()), Some(k));
        }
        // the numbers are an ABI: these never change
        assert_eq!(
            ErrorKind::ALL.map(ErrorKind::code),
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
        );
        assert_eq!(Stage::Sync.code(), 0);
        assert_eq!(Stage::Exec.code(), 20);
        assert_eq!(Stage::LockMounts.code(), 22);
        assert_eq!(Stage::from_code(99), None);
    }

    #[test]
    fn child_error_names_stage_and_errno() {
        let e = Error::child(Stage::Mount, "/proc (proc)", libc::EPERM);
        assert_eq!(e.kind(), ErrorKind::Child);
        assert_eq!(e.stage(), Some(Stage::Mount));
        assert_eq!(e.errno(), Some(libc::EPERM));
        assert!(e.to_string().contains("mount /proc (proc): EPERM"), "{e}");
    }

    #[test]
    fn invalid_names_field() {
        let e = Error::invalid("process.args", "must not be empty");
        assert_eq!(e.field(), Some("process.args"));
        assert_eq!(e.to_string(), "invalid process.args: must not be empty");
    }
}
