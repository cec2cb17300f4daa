//! The cgroup v2 device controller: an eBPF program of type
//! `BPF_PROG_TYPE_CGROUP_DEVICE` that vpsos generates from the allow list,
//! loads with bpf(2) and attaches to the container's cgroup, replacing its
//! previous program atomically (`BPF_F_REPLACE`).
//!
//! The program reads `struct bpf_cgroup_dev_ctx { u32 access_type; u32
//! major; u32 minor; }` (type in the low 16 bits of `access_type`, access
//! in the high 16), returns 1 on the first matching rule and 0 after the
//! last.

use crate::config::{DeviceKind, DeviceRule};
use crate::error::{Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The name vpsos gives its programs, to find them again.
pub(crate) const PROG_NAME: &[u8] = b"vpsos_devices";

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;
const BPF_F_REPLACE: u32 = 4;

const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

// opcodes
const LDX_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const AND32_K: u8 = 0x54;
const RSH32_K: u8 = 0x74;
const MOV32_X: u8 = 0xbc;
const MOV64_K: u8 = 0xb7;
const JNE_K: u8 = 0x55;
const JNE_X: u8 = 0x5d;
const EXIT: u8 = 0x95;

/// The program for an allow list: default deny.
pub(crate) fn program(rules: &[DeviceRule]) -> Vec<Insn> {
    // r2 = type, r3 = requested access, r4 = major, r5 = minor
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(AND32_K, 2, 0, 0, 0xffff),
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH32_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    // a rule granting nothing (a node only) has no block
    for r in rules.iter().filter(|r| !r.access.is_empty()) {
        let mut block: Vec<Insn> = Vec::new();
        // each test jumps past the block's end (patched below)
        match r.kind {
            DeviceKind::Char => block.push(insn(JNE_K, 2, 0, 0, DEV_CHAR)),
            DeviceKind::Block => block.push(insn(JNE_K, 2, 0, 0, DEV_BLOCK)),
            DeviceKind::All => {}
        }
        let mut acc = 0;
        if r.access.read {
            acc |= ACC_READ;
        }
        if r.access.write {
            acc |= ACC_WRITE;
        }
        if r.access.mknod {
            acc |= ACC_MKNOD;
        }
        if acc != ACC_READ | ACC_WRITE | ACC_MKNOD {
            // requested & allowed must equal requested
            block.push(insn(MOV32_X, 1, 3, 0, 0));
            block.push(insn(AND32_K, 1, 0, 0, acc));
            block.push(insn(JNE_X, 1, 3, 0, 0));
        }
        if let Some(m) = r.major {
            block.push(insn(JNE_K, 4, 0, 0, m as i32));
        }
        if let Some(m) = r.minor {
            block.push(insn(JNE_K, 5, 0, 0, m as i32));
        }
        block.push(insn(MOV64_K, 0, 0, 0, 1));
        block.push(insn(EXIT, 0, 0, 0, 0));
        let n = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == JNE_K || ins.code == JNE_X {
                ins.off = (n - i - 1) as i16;
            }
        }
        p.extend(block);
    }
    p.push(insn(MOV64_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

fn bpf(cmd: libc::c_long, attr: *mut u8, size: usize) -> std::io::Result<libc::c_long> {
    // SAFETY: attr points to a live struct of `size` bytes for this command.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr, size as libc::c_uint) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct ProgQuery {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdById {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct InfoByFd {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

fn err(e: std::io::Error, what: &str) -> Error {
    let errno = e.raw_os_error().unwrap_or(libc::EIO);
    if errno == libc::ENOSYS || errno == libc::EINVAL && what.starts_with("loading") {
        return Error::unsupported(format!(
            "device control on cgroup v2: {what}: {e} (kernel without cgroup device BPF)"
        ));
    }
    Error::from_errno(errno, what)
}

/// Load the program for `rules`.
fn load(rules: &[DeviceRule]) -> Result<OwnedFd> {
    let insns = program(rules);
    let license = c"Apache-2.0";
    let mut name = [0u8; 16];
    name[..PROG_NAME.len()].copy_from_slice(PROG_NAME);
    let mut attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    match bpf(
        BPF_PROG_LOAD,
        &mut attr as *mut _ as *mut u8,
        size_of::<ProgLoad>(),
    ) {
        // SAFETY: PROG_LOAD returned a new fd.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(e) => {
            // again with the verifier's log, for the message
            let mut log = vec![0u8; 16 * 1024];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            let _ = bpf(
                BPF_PROG_LOAD,
                &mut attr as *mut _ as *mut u8,
                size_of::<ProgLoad>(),
            );
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            Err(err(e, "loading the device program").context(text.trim()))
        }
    }
}

/// The programs of ours attached to the cgroup `dir`.
fn attached_ours(dir: &OwnedFd) -> Result<Vec<OwnedFd>> {
    let mut ids = [0u32; 64];
    let mut q = ProgQuery {
        target_fd: dir.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(
        BPF_PROG_QUERY,
        &mut q as *mut _ as *mut u8,
        size_of::<ProgQuery>(),
    )
    .map_err(|e| err(e, "querying the cgroup's device programs"))?;
    let mut out = Vec::new();
    for &id in &ids[..(q.prog_cnt as usize).min(ids.len())] {
        let mut g = GetFdById {
            prog_id: id,
            ..Default::default()
        };
        let Ok(fd) = bpf(
            BPF_PROG_GET_FD_BY_ID,
            &mut g as *mut _ as *mut u8,
            size_of::<GetFdById>(),
        ) else {
            continue; // detached meanwhile
        };
        // SAFETY: GET_FD_BY_ID returned a new fd.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // struct bpf_prog_info: name[16] at offset 64
        let mut info = [0u8; 96];
        let mut i = InfoByFd {
            bpf_fd: fd.as_raw_fd() as u32,
            info_len: info.len() as u32,
            info: info.as_mut_ptr() as u64,
        };
        if bpf(
            BPF_OBJ_GET_INFO_BY_FD,
            &mut i as *mut _ as *mut u8,
            size_of::<InfoByFd>(),
        )
        .is_ok()
            && info[64..64 + PROG_NAME.len()] == *PROG_NAME
        {
            out.push(fd);
        }
    }
    Ok(out)
}

/// Put the program for `rules` on the cgroup directory `dir`, replacing
/// ours in one step if there is one.
pub(crate) fn install(dir: &std::path::Path, rules: &[DeviceRule]) -> Result<()> {
    let what = || format!("setting the device rules of {}", dir.display());
    let cg: OwnedFd = std::fs::File::open(dir)
        .map_err(|e| err(e, &format!("opening {}", dir.display())))?
        .into();
    let prog = load(rules).map_err(|e| e.context(what()))?;
    let old = attached_ours(&cg).map_err(|e| e.context(what()))?;
    let mut a = ProgAttach {
        target_fd: cg.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    if let Some(o) = old.first() {
        a.attach_flags |= BPF_F_REPLACE;
        a.replace_bpf_fd = o.as_raw_fd() as u32;
    }
    bpf(
        BPF_PROG_ATTACH,
        &mut a as *mut _ as *mut u8,
        size_of::<ProgAttach>(),
    )
    .map_err(|e| err(e, "attaching the device program").context(what()))?;
    // more than one of ours should not happen; drop the extras
    for o in old.iter().skip(1) {
        let mut d = ProgAttach {
            target_fd: cg.as_raw_fd() as u32,
            attach_bpf_fd: o.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            ..Default::default()
        };
        let _ = bpf(
            BPF_PROG_DETACH,
            &mut d as *mut _ as *mut u8,
            size_of::<ProgAttach>(),
        );
    }
    Ok(())
}

/// Whether a program of ours is attached to `dir`.
pub(crate) fn is_installed(dir: &std::path::Path) -> Result<bool> {
    let cg: OwnedFd = std::fs::File::open(dir)
        .map_err(|e| err(e, &format!("opening {}", dir.display())))?
        .into();
    Ok(!attached_ours(&cg)?.is_empty())
}

#[cfg(test)]
#[path = "bpf_interp_tests.rs"]
mod interp_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DeviceAccess;

    #[test]
    fn jumps_land_on_the_next_block() {
        let rules = [
            DeviceRule::char(1, 3, DeviceAccess::RW),
            "a *:* m".parse().unwrap(),
        ];
        let p = program(&rules);
        // header 6; block 1: type, 3 access, major, minor, mov, exit = 8
        assert_eq!(p.len(), 6 + 8 + 5 + 2);
        let block1 = &p[6..14];
        for (i, ins) in block1.iter().enumerate() {
            if ins.code == JNE_K || ins.code == JNE_X {
                assert_eq!(i as i16 + 1 + ins.off, 8, "insn {i}");
            }
        }
        assert_eq!(p.last().unwrap().code, EXIT);
        assert_eq!(p[p.len() - 2], insn(MOV64_K, 0, 0, 0, 0));
    }
}
