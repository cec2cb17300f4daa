//! Processes: the stdio a created or exec'd process gets, how a process
//! ended (`vpsos_exit`), and `vpsos_process`, a process exec'd into a
//! running container.

use crate::container::vpsos_container;
use crate::error::{guard, quiet, vpsos_error};
use crate::util::{arg_str, arg_strv, handle, out};
use std::ffi::{c_char, c_int};
use std::os::fd::{BorrowedFd, IntoRawFd};
use std::time::Duration;
use vpsos_core::{CreateOptions, EndReason, ExecProcess, ExitStatus, InitExit, Process, Stdio};

/// In `vpsos_stdio`: connect the stream to /dev/null.
pub const VPSOS_STDIO_NULL: c_int = -1;
/// In `vpsos_stdio`: the calling process's own stream.
pub const VPSOS_STDIO_INHERIT: c_int = -2;

/// The stdin, stdout and stderr a process gets: a file descriptor (vpsos
/// duplicates it; the caller keeps and closes its own), `VPSOS_STDIO_NULL`
/// or `VPSOS_STDIO_INHERIT`. A NULL `vpsos_stdio *` means all /dev/null.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct vpsos_stdio {
    /// stdin.
    pub stdin_fd: c_int,
    /// stdout.
    pub stdout_fd: c_int,
    /// stderr.
    pub stderr_fd: c_int,
}

fn one(fd: c_int, name: &str) -> vpsos_core::Result<Stdio> {
    match fd {
        VPSOS_STDIO_NULL => Ok(Stdio::Null),
        VPSOS_STDIO_INHERIT => Ok(Stdio::Inherit),
        fd if fd >= 0 => {
            // SAFETY: the caller says fd is open for the length of the call
            let b = unsafe { BorrowedFd::borrow_raw(fd) };
            b.try_clone_to_owned().map(Stdio::Fd).map_err(|e| {
                vpsos_core::Error::from_errno(
                    e.raw_os_error().unwrap_or(libc::EBADF),
                    format!("duplicating {name} (fd {fd})"),
                )
            })
        }
        _ => Err(vpsos_core::Error::invalid(
            name,
            "is not an fd, VPSOS_STDIO_NULL or VPSOS_STDIO_INHERIT",
        )),
    }
}

pub(crate) unsafe fn stdio_options(stdio: *const vpsos_stdio) -> vpsos_core::Result<CreateOptions> {
    let Some(s) = (unsafe { stdio.as_ref() }) else {
        return Ok(CreateOptions::default());
    };
    Ok(CreateOptions {
        stdin: one(s.stdin_fd, "stdio.stdin_fd")?,
        stdout: one(s.stdout_fd, "stdio.stdout_fd")?,
        stderr: one(s.stderr_fd, "stdio.stderr_fd")?,
        ..Default::default()
    })
}

/// What is known of how a process ended.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum vpsos_exit_kind {
    /// Not recorded (the init's monitor did not live to see it).
    VPSOS_EXIT_UNKNOWN = 0,
    /// It exited; `value` is the exit code.
    VPSOS_EXIT_EXITED = 1,
    /// A signal ended it; `value` is the signal.
    VPSOS_EXIT_SIGNALED = 2,
}

/// What an end means for a system container's init.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum vpsos_end {
    /// Not recorded.
    VPSOS_END_UNKNOWN = 0,
    /// `reboot` inside (the kernel ends the init with SIGHUP).
    VPSOS_END_REBOOT = 1,
    /// `halt` or `poweroff` inside (SIGINT).
    VPSOS_END_HALT = 2,
    /// The init exited by itself.
    VPSOS_END_EXIT = 3,
    /// Killed by another signal (SIGKILL after a stop's timeout, say).
    VPSOS_END_KILLED = 4,
}

/// How a process ended.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct vpsos_exit {
    /// Exited, signalled or unknown.
    pub kind: vpsos_exit_kind,
    /// The exit code or the signal (0 when unknown).
    pub value: c_int,
    /// For a container's init: reboot, halt, exit or killed.
    pub end: vpsos_end,
}

impl From<InitExit> for vpsos_exit {
    fn from(x: InitExit) -> vpsos_exit {
        let mut e = match x.status() {
            Some(s) => vpsos_exit::from(s),
            None => vpsos_exit {
                kind: vpsos_exit_kind::VPSOS_EXIT_UNKNOWN,
                value: 0,
                end: vpsos_end::VPSOS_END_UNKNOWN,
            },
        };
        e.end = match x.reason() {
            EndReason::Reboot => vpsos_end::VPSOS_END_REBOOT,
            EndReason::Halt => vpsos_end::VPSOS_END_HALT,
            EndReason::Exit(_) => vpsos_end::VPSOS_END_EXIT,
            EndReason::Killed(_) => vpsos_end::VPSOS_END_KILLED,
            _ => vpsos_end::VPSOS_END_UNKNOWN,
        };
        e
    }
}

impl From<ExitStatus> for vpsos_exit {
    fn from(s: ExitStatus) -> vpsos_exit {
        match s {
            ExitStatus::Exited(c) => vpsos_exit {
                kind: vpsos_exit_kind::VPSOS_EXIT_EXITED,
                value: c,
                end: vpsos_end::VPSOS_END_EXIT,
            },
            ExitStatus::Signaled(s) => vpsos_exit {
                kind: vpsos_exit_kind::VPSOS_EXIT_SIGNALED,
                value: s,
                end: vpsos_end::VPSOS_END_KILLED,
            },
        }
    }
}

/// A timeout in milliseconds: negative waits forever.
pub(crate) fn timeout(ms: i64) -> Option<Duration> {
    u64::try_from(ms).ok().map(Duration::from_millis)
}

/// A process exec'd into a running container. It runs under a small
/// monitor of its own that reaps it, so the caller never has to: free the
/// handle with `vpsos_process_free` without waiting and nothing is left
/// behind. May be used from several threads.
pub struct vpsos_process(ExecProcess);

unsafe fn exec_with(
    container: *const vpsos_container,
    p: Process,
    stdio: *const vpsos_stdio,
    process: *mut *mut vpsos_process,
) -> vpsos_core::Result<()> {
    let ct = unsafe { handle(container, "container") }?;
    let slot = unsafe { out(process, "process") }?;
    let opts = unsafe { stdio_options(stdio) }?;
    let x = ct.ct.exec(&p, opts)?;
    *slot = Box::into_raw(Box::new(vpsos_process(x)));
    Ok(())
}

/// Run `argv` (NULL-terminated; a first element without `/` is looked up
/// in the container's PATH) in the running container with the init's
/// environment defaults, as root, in `/`. For a terminal, a user, a
/// working directory or an environment of your own use
/// `vpsos_container_exec_json`.
///
/// ```c
/// int pipefd[2]; pipe(pipefd);
/// vpsos_stdio io = { VPSOS_STDIO_NULL, pipefd[1], 2 };
/// const char *argv[] = { "hostname", NULL };
/// vpsos_process *p;
/// vpsos_error *e = vpsos_container_exec(ct, argv, &io, &p);
/// close(pipefd[1]);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_exec(
    container: *const vpsos_container,
    argv: *const *const c_char,
    stdio: *const vpsos_stdio,
    process: *mut *mut vpsos_process,
) -> *mut vpsos_error {
    guard(|| {
        let args = unsafe { arg_strv(argv, "argv") }?;
        if args.is_empty() {
            return Err(vpsos_core::Error::invalid("argv", "is empty"));
        }
        unsafe { exec_with(container, Process::new(args), stdio, process) }
    })
}

/// Run a process described in JSON, the config's `process` form:
/// `{"args": ["/bin/sh"], "env": ["TERM=xterm"], "cwd": "/root",
/// "user": {"uid": 1000, "gid": 1000}, "terminal": true}`. With
/// `"terminal": true` it gets a pty of the container's own devpts whose
/// master `vpsos_process_console` hands out.
///
/// ```c
/// vpsos_error *e = vpsos_container_exec_json(ct,
///     "{\"args\": [\"/bin/sh\"], \"terminal\": true}", NULL, &p);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_exec_json(
    container: *const vpsos_container,
    process_json: *const c_char,
    stdio: *const vpsos_stdio,
    process: *mut *mut vpsos_process,
) -> *mut vpsos_error {
    guard(|| {
        let json = unsafe { arg_str(process_json, "process_json") }?;
        let p: Process = serde_json::from_str(json)
            .map_err(|e| vpsos_core::Error::invalid("process_json", e))?;
        unsafe { exec_with(container, p, stdio, process) }
    })
}

/// The process's host pid.
///
/// ```c
/// printf("pid %d\n", vpsos_process_pid(p));
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_process_pid(process: *const vpsos_process) -> i32 {
    quiet(0, || unsafe { process.as_ref() }.map_or(0, |p| p.0.pid()))
}

/// A pidfd of the process (a new fd to close): poll it to learn, without
/// waiting, when it ends.
///
/// ```c
/// int fd; if (!vpsos_process_pidfd(p, &fd)) { struct pollfd pfd = { fd, POLLIN, 0 }; poll(&pfd, 1, -1); close(fd); }
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_process_pidfd(
    process: *const vpsos_process,
    fd: *mut c_int,
) -> *mut vpsos_error {
    guard(|| {
        let p = unsafe { handle(process, "process") }?;
        let slot = unsafe { out(fd, "fd") }?;
        *slot = p.0.pidfd()?.into_raw_fd();
        Ok(())
    })
}

/// The master of the process's pty (`"terminal": true`), handed over once:
/// the caller owns and closes it. -1 when there is none or it was taken.
///
/// ```c
/// int master = vpsos_process_console(p);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_process_console(process: *const vpsos_process) -> c_int {
    quiet(-1, || {
        unsafe { process.as_ref() }
            .and_then(|p| p.0.take_console())
            .map_or(-1, IntoRawFd::into_raw_fd)
    })
}

/// Send a signal to the process.
///
/// ```c
/// vpsos_error *e = vpsos_process_kill(p, SIGTERM);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_process_kill(
    process: *const vpsos_process,
    signal: c_int,
) -> *mut vpsos_error {
    guard(|| unsafe { handle(process, "process") }?.0.kill(signal))
}

/// Wait up to `timeout_ms` (negative: for ever; 0: just look) for the
/// process to end. `*ended` says whether it has; then `*exit` (may be
/// NULL) says how. The process's monitor reaps it and passes its status
/// on, so the caller's own `waitpid(-1)` or `SIGCHLD` handling cannot take it.
///
/// ```c
/// bool ended; vpsos_exit x;
/// vpsos_error *e = vpsos_process_wait(p, -1, &ended, &x);
/// if (!e && x.kind == VPSOS_EXIT_EXITED) printf("exit %d\n", x.value);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_process_wait(
    process: *const vpsos_process,
    timeout_ms: i64,
    ended: *mut bool,
    exit: *mut vpsos_exit,
) -> *mut vpsos_error {
    guard(|| {
        let p = unsafe { handle(process, "process") }?;
        let done = unsafe { out(ended, "ended") }?;
        let r = match timeout(timeout_ms) {
            Some(d) => p.0.wait_timeout(d)?,
            None => Some(p.0.wait()?),
        };
        *done = r.is_some();
        if let (Some(s), Some(x)) = (r, unsafe { exit.as_mut() }) {
            *x = s.into();
        }
        Ok(())
    })
}

/// Free a process handle (NULL is fine). The process itself goes on.
///
/// ```c
/// vpsos_process_free(p);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_process_free(process: *mut vpsos_process) {
    if !process.is_null() {
        quiet((), || drop(unsafe { Box::from_raw(process) }));
    }
}
