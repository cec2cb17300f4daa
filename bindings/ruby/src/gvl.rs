//! Run a closure without the GVL, so other Ruby threads go on while vpsos
//! blocks (starting, stopping, a ZFS stream). The closure touches no Ruby
//! object; a panic in it is carried back and resumed with the GVL held.

use std::ffi::c_void;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

struct Call<F, R> {
    f: Option<F>,
    r: Option<std::thread::Result<R>>,
}

unsafe extern "C" fn trampoline<F: FnOnce() -> R, R>(data: *mut c_void) -> *mut c_void {
    // SAFETY: `data` is the `Call` that `nogvl` passes, alive for the call
    let call = unsafe { &mut *(data as *mut Call<F, R>) };
    if let Some(f) = call.f.take() {
        call.r = Some(catch_unwind(AssertUnwindSafe(f)));
    }
    std::ptr::null_mut()
}

/// `f()` with the GVL released.
pub(crate) fn nogvl<F: FnOnce() -> R, R>(f: F) -> R {
    let mut call = Call {
        f: Some(f),
        r: None,
    };
    // SAFETY: the trampoline only runs `f`, which holds no Ruby object;
    // no unblocking function: vpsos's blocking calls are bounded
    unsafe {
        rb_sys::rb_thread_call_without_gvl(
            Some(trampoline::<F, R>),
            &mut call as *mut Call<F, R> as *mut c_void,
            None,
            std::ptr::null_mut(),
        );
    }
    match call.r {
        Some(Ok(r)) => r,
        Some(Err(p)) => resume_unwind(p),
        None => unreachable!("rb_thread_call_without_gvl runs the function"),
    }
}
