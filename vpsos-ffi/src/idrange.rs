//! `vpsos_idrange`: a file-backed range of host ids handed out in blocks
//! to containers' user namespaces (osctld's id ranges).

use crate::error::{guard, quiet, vpsos_error};
use crate::util::{arg_str, c_string, handle, out};
use std::ffi::c_char;
use vpsos_core::{IdRange, IdRangeAllocation};

/// An id range stored in a file. Allocations are taken under a file lock,
/// so any number of handles, threads and processes may share one file.
/// Free the handle with `vpsos_idrange_free` (allocations stay).
pub struct vpsos_idrange(IdRange);

/// An allocation of blocks.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct vpsos_idrange_allocation {
    /// The first block's index.
    pub index: u64,
    /// How many blocks.
    pub count: u64,
    /// The first host id.
    pub first_id: u32,
    /// How many ids (a container maps `0:first_id:id_count`).
    pub id_count: u32,
}

impl From<&IdRangeAllocation> for vpsos_idrange_allocation {
    fn from(a: &IdRangeAllocation) -> vpsos_idrange_allocation {
        vpsos_idrange_allocation {
            index: a.index,
            count: a.count,
            first_id: a.first_id(),
            id_count: a.id_count(),
        }
    }
}

/// Open the range stored at `path`, creating it with host ids from
/// `start` in `block_count` blocks of `block_size` ids if it does not
/// exist. An existing file keeps its geometry; a different one asked for
/// here is `VPSOS_ERROR_INVALID_CONFIG`.
///
/// ```c
/// vpsos_idrange *r;
/// vpsos_error *e = vpsos_idrange_open("/var/lib/vpsos/ids.json", 1000000, 65536, 4096, &r);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_idrange_open(
    path: *const c_char,
    start: u64,
    block_size: u64,
    block_count: u64,
    range: *mut *mut vpsos_idrange,
) -> *mut vpsos_error {
    guard(|| {
        let path = unsafe { arg_str(path, "path") }?;
        let slot = unsafe { out(range, "range") }?;
        let r = IdRange::open_or_create(path, start, block_size, block_count)?;
        *slot = Box::into_raw(Box::new(vpsos_idrange(r)));
        Ok(())
    })
}

/// Free the handle (NULL is fine); the file and its allocations stay.
///
/// ```c
/// vpsos_idrange_free(r);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_idrange_free(range: *mut vpsos_idrange) {
    if !range.is_null() {
        quiet((), || drop(unsafe { Box::from_raw(range) }));
    }
}

/// Allocate `count` consecutive blocks for `owner` (first fit).
///
/// ```c
/// vpsos_idrange_allocation a;
/// if (!vpsos_idrange_allocate(r, 1, "ct101", &a)) printf("0:%u:%u\n", a.first_id, a.id_count);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_idrange_allocate(
    range: *const vpsos_idrange,
    count: u64,
    owner: *const c_char,
    allocation: *mut vpsos_idrange_allocation,
) -> *mut vpsos_error {
    guard(|| {
        let r = unsafe { handle(range, "range") }?;
        let owner = unsafe { arg_str(owner, "owner") }?;
        let slot = unsafe { out(allocation, "allocation") }?;
        *slot = (&r.0.allocate(count, owner)?).into();
        Ok(())
    })
}

/// Allocate `count` blocks at block `index`; `VPSOS_ERROR_ALREADY_EXISTS`
/// if any is taken.
///
/// ```c
/// vpsos_error *e = vpsos_idrange_allocate_at(r, 10, 1, "ct110", &a);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_idrange_allocate_at(
    range: *const vpsos_idrange,
    index: u64,
    count: u64,
    owner: *const c_char,
    allocation: *mut vpsos_idrange_allocation,
) -> *mut vpsos_error {
    guard(|| {
        let r = unsafe { handle(range, "range") }?;
        let owner = unsafe { arg_str(owner, "owner") }?;
        let slot = unsafe { out(allocation, "allocation") }?;
        *slot = (&r.0.allocate_at(index, count, owner)?).into();
        Ok(())
    })
}

/// Give back the allocation that starts at block `index`; `*freed` (may
/// be NULL) receives what it was.
///
/// ```c
/// vpsos_error *e = vpsos_idrange_deallocate(r, a.index, NULL);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_idrange_deallocate(
    range: *const vpsos_idrange,
    index: u64,
    freed: *mut vpsos_idrange_allocation,
) -> *mut vpsos_error {
    guard(|| {
        let r = unsafe { handle(range, "range") }?;
        let a = r.0.free(index)?;
        if let Some(slot) = unsafe { freed.as_mut() } {
            *slot = (&a).into();
        }
        Ok(())
    })
}

/// Give back every allocation `owner` holds; `*count` (may be NULL)
/// receives how many.
///
/// ```c
/// size_t n; vpsos_error *e = vpsos_idrange_deallocate_owner(r, "ct101", &n);
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_idrange_deallocate_owner(
    range: *const vpsos_idrange,
    owner: *const c_char,
    count: *mut usize,
) -> *mut vpsos_error {
    guard(|| {
        let r = unsafe { handle(range, "range") }?;
        let n = r.0.free_owner(unsafe { arg_str(owner, "owner") }?)?;
        if let Some(slot) = unsafe { count.as_mut() } {
            *slot = n;
        }
        Ok(())
    })
}

/// Every allocation, by block index, as JSON (`[{"index": 0, "count": 1,
/// "owner": "ct101", "first_id": 1000000, "id_count": 65536}, …]`), a
/// string to free with `vpsos_string_free`.
///
/// ```c
/// char *json; if (!vpsos_idrange_list(r, &json)) { puts(json); vpsos_string_free(json); }
/// ```
#[no_mangle]
pub unsafe extern "C" fn vpsos_idrange_list(
    range: *const vpsos_idrange,
    json: *mut *mut c_char,
) -> *mut vpsos_error {
    guard(|| {
        let r = unsafe { handle(range, "range") }?;
        let slot = unsafe { out(json, "json") }?;
        let list: Vec<serde_json::Value> =
            r.0.list()?
                .iter()
                .map(|a| {
                    serde_json::json!({
                        "index": a.index, "count": a.count, "owner": a.owner,
                        "first_id": a.first_id(), "id_count": a.id_count(),
                    })
                })
                .collect();
        *slot = c_string(serde_json::Value::from(list).to_string())?;
        Ok(())
    })
}
