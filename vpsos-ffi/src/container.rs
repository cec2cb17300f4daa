//! `vpsos_container`: one container's lifecycle — start, state, wait,
//! kill, stop, delete — and its console and terminals.

use crate::error::{guard, quiet, vpsos_error};
use crate::exec::{timeout, vpsos_exit};
use crate::runtime::vpsos_status;
use crate::util::{c_bytes, c_string, handle, out};
use std::ffi::{c_char, c_int, CString};
use std::os::fd::IntoRawFd;
use std::ptr;
use std::time::Duration;
use vpsos_core::Container;

/// A handle to one container. Every operation may be called from any
/// thread, by several at once, and by other handles to the same container
/// in this or other processes. Free with `vpsos_container_free` (the
/// container itself goes on running).
pub struct vpsos_container {
    pub(crate) ct: Container,
    id: CString,
}

impl vpsos_container {
    pub(crate) fn boxed(ct: Container) -> vpsos_core::Result<*mut vpsos_container> {
        let id = unsafe { CString::from_raw(c_string(ct.id())?) };
        Ok(Box::into_raw(Box::new(vpsos_container { ct, id })))
    }
}

/// The container's id (owned by the handle).
///
/// ```c
/// puts(vpsos_container_id(ct));
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_id(container: *const vpsos_container) -> *const c_char {
    quiet(ptr::null(), || {
        unsafe { container.as_ref() }.map_or(ptr::null(), |c| c.id.as_ptr())
    })
}

/// Free a handle (NULL is fine). The container is not touched.
///
/// ```c
/// vpsos_container_free(ct);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_free(container: *mut vpsos_container) {
    if !container.is_null() {
        quiet((), || drop(unsafe { Box::from_raw(container) }));
    }
}

/// Start a created container: its init execs. A container that is not
/// `VPSOS_STATUS_CREATED` is `VPSOS_ERROR_BUSY` and nothing changes.
///
/// ```c
/// vpsos_error *e = vpsos_container_start(ct);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_start(
    container: *const vpsos_container,
) -> *mut vpsos_error {
    guard(|| unsafe { handle(container, "container") }?.ct.start())
}

/// The container's status and init pid (0 when it has none; `pid` may be
/// NULL).
///
/// ```c
/// vpsos_status st; int32_t pid;
/// if (!vpsos_container_status(ct, &st, &pid) && st == VPSOS_STATUS_RUNNING) printf("init %d\n", pid);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_status(
    container: *const vpsos_container,
    status: *mut vpsos_status,
    pid: *mut i32,
) -> *mut vpsos_error {
    guard(|| {
        let ct = unsafe { handle(container, "container") }?;
        let slot = unsafe { out(status, "status") }?;
        let st = ct.ct.state()?;
        *slot = st.status.into();
        if let Some(p) = unsafe { pid.as_mut() } {
            *p = st.pid.unwrap_or(0);
        }
        Ok(())
    })
}

/// The container's whole state as JSON (`{"id", "status", "pid",
/// "monitor_pid", "created", "started", "cgroup", "seccomp_skipped"}`), a
/// string to free with `vpsos_string_free`.
///
/// ```c
/// char *json; if (!vpsos_container_state_json(ct, &json)) { puts(json); vpsos_string_free(json); }
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_state_json(
    container: *const vpsos_container,
    json: *mut *mut c_char,
) -> *mut vpsos_error {
    guard(|| {
        let ct = unsafe { handle(container, "container") }?;
        let slot = unsafe { out(json, "json") }?;
        let st = ct.ct.state()?;
        *slot = c_string(serde_json::to_string(&st).unwrap_or_default())?;
        Ok(())
    })
}

/// The container's config as it is now (live changes included).
///
/// ```c
/// vpsos_config *cfg; if (!vpsos_container_config(ct, &cfg)) { ...; vpsos_config_free(cfg); }
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_config(
    container: *const vpsos_container,
    config: *mut *mut crate::config::vpsos_config,
) -> *mut vpsos_error {
    guard(|| {
        let ct = unsafe { handle(container, "container") }?;
        let slot = unsafe { out(config, "config") }?;
        *slot = Box::into_raw(Box::new(crate::config::vpsos_config(ct.ct.config()?)));
        Ok(())
    })
}

/// A pidfd of the init (a new fd to close): it polls readable when the
/// init ends, for a caller's own event loop.
///
/// ```c
/// int fd; if (!vpsos_container_pidfd(ct, &fd)) { ...; close(fd); }
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_pidfd(
    container: *const vpsos_container,
    fd: *mut c_int,
) -> *mut vpsos_error {
    guard(|| {
        let ct = unsafe { handle(container, "container") }?;
        let slot = unsafe { out(fd, "fd") }?;
        *slot = ct.ct.pidfd()?.into_raw_fd();
        Ok(())
    })
}

/// Wait up to `timeout_ms` (negative: for ever; 0: just look) for the
/// init to end. `*ended` says whether it has; then `*exit` (may be NULL)
/// says how: any handle in any process gets the same answer, so a
/// restarted manager can tell a reboot (`VPSOS_END_REBOOT`) from a halt.
///
/// ```c
/// bool ended; vpsos_exit x;
/// vpsos_error *e = vpsos_container_wait(ct, 5000, &ended, &x);
/// if (!e && ended && x.end == VPSOS_END_REBOOT) { /* start it again */ }
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_wait(
    container: *const vpsos_container,
    timeout_ms: i64,
    ended: *mut bool,
    exit: *mut vpsos_exit,
) -> *mut vpsos_error {
    guard(|| {
        let ct = unsafe { handle(container, "container") }?;
        let done = unsafe { out(ended, "ended") }?;
        let r = match timeout(timeout_ms) {
            Some(d) if d.is_zero() => ct.ct.try_wait()?,
            Some(d) => ct.ct.wait_timeout(d)?,
            None => Some(ct.ct.wait()?),
        };
        *done = r.is_some();
        if let (Some(x), Some(slot)) = (r, unsafe { exit.as_mut() }) {
            *slot = x.into();
        }
        Ok(())
    })
}

/// Send a signal to the init.
///
/// ```c
/// vpsos_error *e = vpsos_container_kill(ct, SIGTERM);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_kill(
    container: *const vpsos_container,
    signal: c_int,
) -> *mut vpsos_error {
    guard(|| unsafe { handle(container, "container") }?.ct.kill(signal))
}

/// Ask the init to halt (as its kind wants: SIGRTMIN+3 for systemd, …),
/// and after `timeout_ms` kill everything in the container. `*exit` (may
/// be NULL) says how it ended, `*killed` (may be NULL) whether it had to
/// be killed.
///
/// ```c
/// vpsos_exit x; bool killed;
/// vpsos_error *e = vpsos_container_stop(ct, 10000, &x, &killed);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_stop(
    container: *const vpsos_container,
    timeout_ms: u64,
    exit: *mut vpsos_exit,
    killed: *mut bool,
) -> *mut vpsos_error {
    guard(|| {
        let ct = unsafe { handle(container, "container") }?;
        let o = ct.ct.stop(Duration::from_millis(timeout_ms))?;
        if let Some(x) = unsafe { exit.as_mut() } {
            *x = o.exit.into();
        }
        if let Some(k) = unsafe { killed.as_mut() } {
            *k = o.killed;
        }
        Ok(())
    })
}

/// Delete a stopped (or created) container: its cgroup, interfaces,
/// mounts and state. With `force`, a running one is killed first. A
/// running container without `force` is `VPSOS_ERROR_BUSY`. The handle
/// stays to be freed; every handle then says `VPSOS_ERROR_NOT_FOUND`.
///
/// ```c
/// vpsos_error *e = vpsos_container_delete(ct, false);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_delete(
    container: *const vpsos_container,
    force: bool,
) -> *mut vpsos_error {
    guard(|| {
        let ct = unsafe { handle(container, "container") }?;
        if force {
            ct.ct.delete_force()
        } else {
            ct.ct.delete()
        }
    })
}

/// Attach to the console: a stream socket (a new fd to close) carrying
/// what the container writes to /dev/console from now on, and taking
/// console input. Any number of attachers; closing detaches.
///
/// ```c
/// int con; if (!vpsos_container_attach_console(ct, &con)) { char b[4096]; ssize_t n = read(con, b, sizeof b); close(con); }
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_attach_console(
    container: *const vpsos_container,
    fd: *mut c_int,
) -> *mut vpsos_error {
    guard(|| {
        let ct = unsafe { handle(container, "container") }?;
        let slot = unsafe { out(fd, "fd") }?;
        *slot = ct.ct.attach_console()?.into_raw_fd();
        Ok(())
    })
}

/// Attach to tty `n` (1 … the config's `console.ttys`), as the console.
///
/// ```c
/// int tty1; vpsos_error *e = vpsos_container_attach_tty(ct, 1, &tty1);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_attach_tty(
    container: *const vpsos_container,
    n: u32,
    fd: *mut c_int,
) -> *mut vpsos_error {
    guard(|| {
        let ct = unsafe { handle(container, "container") }?;
        let slot = unsafe { out(fd, "fd") }?;
        *slot = ct.ct.attach_tty(n)?.into_raw_fd();
        Ok(())
    })
}

/// Set the window size of terminal `n` (0: the console).
///
/// ```c
/// vpsos_error *e = vpsos_container_resize_terminal(ct, 0, 50, 132);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_resize_terminal(
    container: *const vpsos_container,
    n: u32,
    rows: u16,
    cols: u16,
) -> *mut vpsos_error {
    guard(|| {
        unsafe { handle(container, "container") }?
            .ct
            .resize_terminal(n, rows, cols)
    })
}

/// What the container wrote to its console lately (bytes to free with
/// `vpsos_bytes_free`), readable after it stopped, until it is deleted.
///
/// ```c
/// uint8_t *log; size_t len;
/// if (!vpsos_container_console_log(ct, &log, &len)) { fwrite(log, 1, len, stdout); vpsos_bytes_free(log, len); }
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_console_log(
    container: *const vpsos_container,
    data: *mut *mut u8,
    len: *mut usize,
) -> *mut vpsos_error {
    guard(|| {
        let ct = unsafe { handle(container, "container") }?;
        let d = unsafe { out(data, "data") }?;
        let l = unsafe { out(len, "len") }?;
        let log = ct.ct.console_log()?;
        c_bytes(log, d, l);
        Ok(())
    })
}

/// The init's seccomp notify listener (a config whose profile has
/// `"notify"` rules), handed over once to the caller, who owns and closes
/// it: -1 when there is none, it was taken, or this handle did not create
/// the container.
///
/// ```c
/// int listener = vpsos_container_seccomp_listener(ct);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_container_seccomp_listener(
    container: *const vpsos_container,
) -> c_int {
    quiet(-1, || {
        unsafe { container.as_ref() }
            .and_then(|c| c.ct.take_seccomp_listener())
            .map_or(-1, IntoRawFd::into_raw_fd)
    })
}
