//! `vpsos_error`: what every fallible call returns (NULL on success), and
//! the guard that turns a Rust error or panic into one.

use std::any::Any;
use std::ffi::{c_char, c_int, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use vpsos_core::{Error, ErrorKind};

/// The configuration (or an argument) is invalid; `vpsos_error_field`
/// names it.
pub const VPSOS_ERROR_INVALID_CONFIG: u32 = 1;
/// The container, file or object does not exist.
pub const VPSOS_ERROR_NOT_FOUND: u32 = 2;
/// It exists already.
pub const VPSOS_ERROR_ALREADY_EXISTS: u32 = 3;
/// Not permitted.
pub const VPSOS_ERROR_PERMISSION_DENIED: u32 = 4;
/// The host (kernel, tools) lacks what it needs.
pub const VPSOS_ERROR_UNSUPPORTED: u32 = 5;
/// The container is in the wrong state for it, or another caller holds it.
pub const VPSOS_ERROR_BUSY: u32 = 6;
/// Setting up the container's process failed; `vpsos_error_stage` says where.
pub const VPSOS_ERROR_CHILD: u32 = 7;
/// A system call failed; `vpsos_error_errno` says why.
pub const VPSOS_ERROR_IO: u32 = 8;
/// An external command (zfs, apparmor_parser) failed.
pub const VPSOS_ERROR_COMMAND: u32 = 9;
/// Cancelled, or the time allowed ran out.
pub const VPSOS_ERROR_CANCELLED: u32 = 10;
/// vpsos itself failed (a Rust panic, caught at the boundary): a bug to
/// report. The call had no effect beyond what its message says.
pub const VPSOS_ERROR_PANIC: u32 = 1000;

/// An error: its kind, errno, stage, field and message. Returned by every
/// fallible call (NULL means success); the caller owns it and frees it
/// with `vpsos_error_free`. Not tied to a thread: it may be read and freed
/// anywhere.
pub struct vpsos_error {
    kind: u32,
    errno: c_int,
    stage: i32,
    field: Option<CString>,
    message: CString,
}

fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', "\\0")).unwrap_or_default()
}

impl vpsos_error {
    pub(crate) fn boxed(e: &Error) -> *mut vpsos_error {
        Box::into_raw(Box::new(vpsos_error {
            kind: e.kind().code(),
            errno: e.errno().unwrap_or(0),
            stage: e.stage().map_or(-1, |s| s.code() as i32),
            field: e.field().map(c_string),
            message: c_string(&e.to_string()),
        }))
    }

    fn panic(payload: Box<dyn Any + Send>) -> *mut vpsos_error {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        Box::into_raw(Box::new(vpsos_error {
            kind: VPSOS_ERROR_PANIC,
            errno: 0,
            stage: -1,
            field: None,
            message: c_string(&format!("internal error in vpsos (please report): {what}")),
        }))
    }
}

/// Run `f`, catching a panic: NULL on success, an error otherwise.
pub(crate) fn guard(f: impl FnOnce() -> vpsos_core::Result<()>) -> *mut vpsos_error {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => ptr::null_mut(),
        Ok(Err(e)) => vpsos_error::boxed(&e),
        Err(p) => vpsos_error::panic(p),
    }
}

/// Run a function that cannot fail (a free, an accessor) so that a panic
/// never unwinds into C: it gives `fallback` instead.
pub(crate) fn quiet<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

/// The error's kind: one of the `VPSOS_ERROR_*` numbers. Later versions
/// may add kinds, so treat an unknown number as a generic failure.
///
/// ```c
/// vpsos_error *e = vpsos_container_start(ct);
/// if (e && vpsos_error_kind(e) == VPSOS_ERROR_BUSY) { /* started already */ }
/// vpsos_error_free(e);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_error_kind(e: *const vpsos_error) -> u32 {
    quiet(0, || unsafe { e.as_ref() }.map_or(0, |e| e.kind))
}

/// The errno behind the error, or 0 if there is none.
///
/// ```c
/// if (vpsos_error_errno(e) == ENOENT) { ... }
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_error_errno(e: *const vpsos_error) -> c_int {
    quiet(0, || unsafe { e.as_ref() }.map_or(0, |e| e.errno))
}

/// Where setting up the container's process failed (`VPSOS_STAGE_*`), or
/// -1 when the error did not come from there.
///
/// ```c
/// if (vpsos_error_stage(e) == VPSOS_STAGE_MOUNT) { ... }
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_error_stage(e: *const vpsos_error) -> i32 {
    quiet(-1, || unsafe { e.as_ref() }.map_or(-1, |e| e.stage))
}

/// The configuration field (`"process.args"`, `"mounts[2].source"`) or
/// argument (`"id"`) the error is about, or NULL. Owned by the error.
///
/// ```c
/// const char *field = vpsos_error_field(e);
/// if (field) fprintf(stderr, "bad %s\n", field);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_error_field(e: *const vpsos_error) -> *const c_char {
    quiet(ptr::null(), || {
        unsafe { e.as_ref() }
            .and_then(|e| e.field.as_ref())
            .map_or(ptr::null(), |f| f.as_ptr())
    })
}

/// The full message, never NULL for a non-NULL error. Owned by the error.
///
/// ```c
/// fprintf(stderr, "vpsos: %s\n", vpsos_error_message(e));
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_error_message(e: *const vpsos_error) -> *const c_char {
    quiet(c"".as_ptr(), || {
        unsafe { e.as_ref() }.map_or(c"".as_ptr(), |e| e.message.as_ptr())
    })
}

/// Free an error (NULL is fine).
///
/// ```c
/// vpsos_error_free(e);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_error_free(e: *mut vpsos_error) {
    if !e.is_null() {
        quiet((), || drop(unsafe { Box::from_raw(e) }));
    }
}

/// The name of a `VPSOS_ERROR_*` kind (`"invalid config"`, …;
/// `"unknown"` for a number this version does not know). Static.
///
/// ```c
/// printf("%s\n", vpsos_error_kind_name(vpsos_error_kind(e)));
/// ```
#[no_mangle]
pub extern "C" fn vpsos_error_kind_name(kind: u32) -> *const c_char {
    if kind == VPSOS_ERROR_PANIC {
        return c"panic".as_ptr();
    }
    match ErrorKind::from_code(kind) {
        Some(ErrorKind::InvalidConfig) => c"invalid config",
        Some(ErrorKind::NotFound) => c"not found",
        Some(ErrorKind::AlreadyExists) => c"already exists",
        Some(ErrorKind::PermissionDenied) => c"permission denied",
        Some(ErrorKind::Unsupported) => c"unsupported",
        Some(ErrorKind::Busy) => c"busy",
        Some(ErrorKind::Child) => c"child",
        Some(ErrorKind::Io) => c"io",
        Some(ErrorKind::Command) => c"command",
        Some(ErrorKind::Cancelled) => c"cancelled",
        _ => c"unknown",
    }
    .as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn kinds_match_the_core_numbers() {
        for (c, k) in [
            (VPSOS_ERROR_INVALID_CONFIG, ErrorKind::InvalidConfig),
            (VPSOS_ERROR_NOT_FOUND, ErrorKind::NotFound),
            (VPSOS_ERROR_ALREADY_EXISTS, ErrorKind::AlreadyExists),
            (VPSOS_ERROR_PERMISSION_DENIED, ErrorKind::PermissionDenied),
            (VPSOS_ERROR_UNSUPPORTED, ErrorKind::Unsupported),
            (VPSOS_ERROR_BUSY, ErrorKind::Busy),
            (VPSOS_ERROR_CHILD, ErrorKind::Child),
            (VPSOS_ERROR_IO, ErrorKind::Io),
            (VPSOS_ERROR_COMMAND, ErrorKind::Command),
            (VPSOS_ERROR_CANCELLED, ErrorKind::Cancelled),
        ] {
            assert_eq!(c, k.code());
        }
        assert_eq!(ErrorKind::from_code(VPSOS_ERROR_PANIC), None);
    }

    #[test]
    fn a_panic_becomes_an_error() {
        let e = guard(|| panic!("boom"));
        unsafe {
            assert_eq!(vpsos_error_kind(e), VPSOS_ERROR_PANIC);
            let m = CStr::from_ptr(vpsos_error_message(e)).to_str().unwrap();
            assert!(m.contains("boom"), "{m}");
            assert!(vpsos_error_field(e).is_null());
            assert_eq!(vpsos_error_stage(e), -1);
            vpsos_error_free(e);
        }
    }

    #[test]
    fn fields_and_errno_come_through() {
        let e = guard(|| Err(Error::invalid("process.args", "empty")));
        unsafe {
            assert_eq!(vpsos_error_kind(e), VPSOS_ERROR_INVALID_CONFIG);
            let f = CStr::from_ptr(vpsos_error_field(e)).to_str().unwrap();
            assert_eq!(f, "process.args");
            vpsos_error_free(e);
        }
        let e = guard(|| Err(Error::from_errno(libc::ENOENT, "opening x")));
        unsafe {
            assert_eq!(vpsos_error_errno(e), libc::ENOENT);
            assert_eq!(vpsos_error_kind(e), VPSOS_ERROR_NOT_FOUND);
            vpsos_error_free(e);
        }
        assert!(guard(|| Ok(())).is_null());
    }
}
