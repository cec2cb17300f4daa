//! Strings, string arrays, byte buffers and out-parameters across the
//! boundary, and the free functions for what vpsos hands out.

use std::ffi::{c_char, CStr, CString};
use std::ptr;
use vpsos_core::Result;

/// A required C string argument as UTF-8.
pub(crate) unsafe fn arg_str<'a>(p: *const c_char, name: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(vpsos_core::Error::invalid(name, "is NULL"));
    }
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| vpsos_core::Error::invalid(name, "is not UTF-8"))
}

/// An optional C string argument (NULL: none).
pub(crate) unsafe fn opt_str<'a>(p: *const c_char, name: &str) -> Result<Option<&'a str>> {
    if p.is_null() {
        Ok(None)
    } else {
        unsafe { arg_str(p, name) }.map(Some)
    }
}

/// A NULL-terminated array of C strings (NULL itself: empty).
pub(crate) unsafe fn arg_strv(p: *const *const c_char, name: &str) -> Result<Vec<String>> {
    let mut v = Vec::new();
    if p.is_null() {
        return Ok(v);
    }
    for i in 0.. {
        let s = unsafe { *p.add(i) };
        if s.is_null() {
            break;
        }
        v.push(unsafe { arg_str(s, &format!("{name}[{i}]")) }?.to_string());
    }
    Ok(v)
}

/// `key=value` strings as pairs.
pub(crate) fn pairs<'a>(v: &'a [String], name: &str) -> Result<Vec<(&'a str, &'a str)>> {
    v.iter()
        .enumerate()
        .map(|(i, s)| {
            s.split_once('=').ok_or_else(|| {
                vpsos_core::Error::invalid(format!("{name}[{i}]"), "is not key=value")
            })
        })
        .collect()
}

/// A required out-parameter.
pub(crate) unsafe fn out<'a, T>(p: *mut T, name: &str) -> Result<&'a mut T> {
    unsafe { p.as_mut() }.ok_or_else(|| vpsos_core::Error::invalid(name, "is NULL"))
}

/// A required handle argument.
pub(crate) unsafe fn handle<'a, T>(p: *const T, name: &str) -> Result<&'a T> {
    unsafe { p.as_ref() }.ok_or_else(|| vpsos_core::Error::invalid(name, "is NULL"))
}

/// The caller's fd as a `File` for the length of a call (never closed here).
pub(crate) fn fd_file(
    fd: std::ffi::c_int,
    name: &str,
) -> Result<std::mem::ManuallyDrop<std::fs::File>> {
    use std::os::fd::FromRawFd;
    if fd < 0 {
        return Err(vpsos_core::Error::invalid(name, "is not a file descriptor"));
    }
    // SAFETY: the caller keeps fd open for the call; ManuallyDrop never closes it
    Ok(std::mem::ManuallyDrop::new(unsafe {
        std::fs::File::from_raw_fd(fd)
    }))
}

/// A string for the caller to free with `vpsos_string_free`.
pub(crate) fn c_string(s: impl Into<Vec<u8>>) -> Result<*mut c_char> {
    CString::new(s)
        .map(CString::into_raw)
        .map_err(|_| vpsos_core::Error::new(vpsos_core::ErrorKind::Io, "a string holds a NUL byte"))
}

/// A NULL-terminated array for the caller to free with `vpsos_strv_free`.
pub(crate) fn c_strv(v: Vec<String>) -> Result<*mut *mut c_char> {
    let mut out: Vec<*mut c_char> = Vec::with_capacity(v.len() + 1);
    for s in v {
        match c_string(s) {
            Ok(p) => out.push(p),
            Err(e) => {
                for p in out {
                    drop(unsafe { CString::from_raw(p) });
                }
                return Err(e);
            }
        }
    }
    out.push(ptr::null_mut());
    Ok(Box::into_raw(out.into_boxed_slice()) as *mut *mut c_char)
}

/// Bytes for the caller to free with `vpsos_bytes_free(data, len)`.
pub(crate) fn c_bytes(v: Vec<u8>, data: &mut *mut u8, len: &mut usize) {
    let b = v.into_boxed_slice();
    *len = b.len();
    *data = Box::into_raw(b) as *mut u8;
}

/// Free a string vpsos returned (NULL is fine).
///
/// ```c
/// char *json;
/// if (!vpsos_config_to_json(cfg, &json)) { puts(json); vpsos_string_free(json); }
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_string_free(s: *mut c_char) {
    if !s.is_null() {
        crate::error::quiet((), || drop(unsafe { CString::from_raw(s) }));
    }
}

/// Free a NULL-terminated string array vpsos returned, with its strings
/// (NULL is fine).
///
/// ```c
/// char **ids;
/// if (!vpsos_runtime_ids(rt, &ids)) {
///     for (char **p = ids; *p; p++) puts(*p);
///     vpsos_strv_free(ids);
/// }
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_strv_free(v: *mut *mut c_char) {
    if v.is_null() {
        return;
    }
    crate::error::quiet((), || {
        let mut n = 0;
        while !unsafe { *v.add(n) }.is_null() {
            drop(unsafe { CString::from_raw(*v.add(n)) });
            n += 1;
        }
        drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(v, n + 1)) });
    })
}

/// Free a byte buffer vpsos returned, with the length it gave (NULL is fine).
///
/// ```c
/// uint8_t *log; size_t len;
/// if (!vpsos_container_console_log(ct, &log, &len)) { fwrite(log, 1, len, stdout); vpsos_bytes_free(log, len); }
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_bytes_free(data: *mut u8, len: usize) {
    if !data.is_null() {
        crate::error::quiet((), || {
            drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(data, len)) })
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strv_round_trip() {
        let v = c_strv(vec!["a".into(), "bc".into()]).unwrap();
        let back = unsafe { arg_strv(v as *const *const c_char, "v") }.unwrap();
        assert_eq!(back, ["a", "bc"]);
        unsafe { vpsos_strv_free(v) };
        assert!(c_strv(vec!["a\0b".into()]).is_err());
    }

    #[test]
    fn null_and_bad_arguments_name_themselves() {
        let e = unsafe { arg_str(ptr::null(), "id") }.unwrap_err();
        assert_eq!(e.field(), Some("id"));
        let bad = [0xffu8, 0];
        let e = unsafe { arg_str(bad.as_ptr() as *const c_char, "id") }.unwrap_err();
        assert!(e.to_string().contains("UTF-8"), "{e}");
        assert!(pairs(&["a".into()], "props").is_err());
    }
}
