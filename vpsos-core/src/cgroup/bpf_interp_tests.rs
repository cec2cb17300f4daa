//! The device program run, not just looked at: a small interpreter of
//! the eBPF instructions [`program`] emits (as youki tests its device
//! programs; the kernel's `BPF_PROG_TEST_RUN` does not run
//! `BPF_PROG_TYPE_CGROUP_DEVICE`), and a table of requests that each
//! rule set must allow or deny.
//!
//! The interpreter follows the eBPF semantics the kernel's (and the
//! verifier's) for those instructions: 32-bit ALU results are
//! zero-extended, `JNE` with an immediate compares all 64 bits against
//! the sign-extended immediate, jumps are relative to the next
//! instruction. It refuses what the verifier would refuse and what it
//! does not model: an unknown opcode, a read of a register never
//! written, a context read other than the three `u32` fields, a jump
//! backwards or out of the program, falling off the end, `exit` with r0
//! unset.

use super::*;
use crate::config::{DeviceAccess, DeviceRule};

/// `struct bpf_cgroup_dev_ctx`: what the kernel asks about.
#[derive(Debug, Clone, Copy)]
struct Request {
    /// `BPF_DEVCG_DEV_BLOCK` (1) or `BPF_DEVCG_DEV_CHAR` (2).
    kind: u32,
    major: u32,
    minor: u32,
    /// `BPF_DEVCG_ACC_MKNOD` (1) | `_READ` (2) | `_WRITE` (4).
    access: u32,
}

/// A register: never written, the context pointer (r1 at entry), or a
/// scalar.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Reg {
    Unset,
    Ctx,
    Val(u64),
}

/// Run `prog` on `req`; the program's return value (1 allow, 0 deny).
fn run(prog: &[Insn], req: Request) -> u64 {
    let ctx = [(req.access << 16) | req.kind, req.major, req.minor];
    let mut r = [Reg::Unset; 11];
    r[1] = Reg::Ctx;
    let mut pc = 0usize;
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(steps <= prog.len(), "more steps than instructions: a loop");
        let ins = *prog
            .get(pc)
            .unwrap_or_else(|| panic!("fell off the end at {pc}"));
        let (dst, src) = ((ins.regs & 0xf) as usize, (ins.regs >> 4) as usize);
        assert!(dst <= 10 && src <= 10, "register out of range in {ins:?}");
        let val = |r: &[Reg; 11], i: usize| match r[i] {
            Reg::Val(v) => v,
            other => panic!("insn {pc} ({ins:?}) reads r{i}: {other:?}"),
        };
        let imm64 = ins.imm as i64 as u64; // sign-extended, as the kernel does
        let mut next = pc + 1;
        match ins.code {
            LDX_W => {
                assert_eq!(
                    r[src],
                    Reg::Ctx,
                    "insn {pc}: load through a non-context register"
                );
                assert!(
                    ins.off >= 0 && ins.off % 4 == 0 && (ins.off as usize) < 12,
                    "insn {pc}: context offset {} (fields at 0, 4, 8)",
                    ins.off
                );
                r[dst] = Reg::Val(ctx[ins.off as usize / 4] as u64);
            }
            AND32_K => r[dst] = Reg::Val((val(&r, dst) as u32 & ins.imm as u32) as u64),
            RSH32_K => {
                assert!(
                    (0..32).contains(&ins.imm),
                    "insn {pc}: shift by {}",
                    ins.imm
                );
                r[dst] = Reg::Val(((val(&r, dst) as u32) >> ins.imm) as u64)
            }
            MOV32_X => r[dst] = Reg::Val(val(&r, src) as u32 as u64),
            MOV64_K => r[dst] = Reg::Val(imm64),
            JNE_K | JNE_X => {
                let b = if ins.code == JNE_K {
                    imm64
                } else {
                    val(&r, src)
                };
                assert!(ins.off >= 0, "insn {pc}: a backward jump");
                if val(&r, dst) != b {
                    next = pc + 1 + ins.off as usize;
                }
                assert!(
                    next < prog.len(),
                    "insn {pc}: jump to {next}, out of the program"
                );
            }
            EXIT => return val(&r, 0),
            c => panic!("insn {pc}: opcode {c:#04x} the interpreter does not know"),
        }
        pc = next;
    }
}

const B: u32 = DEV_BLOCK as u32;
const C: u32 = DEV_CHAR as u32;

/// A request from `c 1:3 rw`-like text: kind, numbers, access letters.
fn req(s: &str) -> Request {
    let f: Vec<&str> = s.split_whitespace().collect();
    let kind = match f[0] {
        "c" => C,
        "b" => B,
        k => panic!("kind {k}"),
    };
    let (ma, mi) = f[1].split_once(':').unwrap();
    let a: DeviceAccess = f[2].parse().unwrap();
    let bit = |on: bool, b: i32| if on { b as u32 } else { 0 };
    let access = bit(a.mknod, ACC_MKNOD) | bit(a.read, ACC_READ) | bit(a.write, ACC_WRITE);
    Request {
        kind,
        major: ma.parse().unwrap(),
        minor: mi.parse().unwrap(),
        access,
    }
}

fn rules(list: &[&str]) -> Vec<DeviceRule> {
    list.iter().map(|r| r.parse().unwrap()).collect()
}

/// The rule semantics the program must have: a request is allowed when
/// one rule alone covers its kind, numbers and every access it asks for
/// (as the v1 controller's exceptions).
fn model(rules: &[DeviceRule], q: Request) -> bool {
    rules.iter().any(|r| {
        let kind = match r.kind {
            crate::config::DeviceKind::All => true,
            crate::config::DeviceKind::Char => q.kind == C,
            crate::config::DeviceKind::Block => q.kind == B,
        };
        let acc = (q.access & ACC_MKNOD as u32 == 0 || r.access.mknod)
            && (q.access & ACC_READ as u32 == 0 || r.access.read)
            && (q.access & ACC_WRITE as u32 == 0 || r.access.write);
        kind && r.major.is_none_or(|m| m == q.major) && r.minor.is_none_or(|m| m == q.minor) && acc
    })
}

/// Check `cases` (request, allowed?) against the program for `list`,
/// and the model against the same expectations; all mismatches at once.
fn check(list: &[&str], cases: &[(&str, bool)]) {
    let rs = rules(list);
    let prog = program(&rs);
    let mut wrong = Vec::new();
    for (q, want) in cases {
        let got = run(&prog, req(q));
        assert!(got <= 1, "{q}: returned {got}");
        if (got == 1) != *want {
            wrong.push(format!("{q}: program says {}, want {}", got == 1, want));
        }
        if model(&rs, req(q)) != *want {
            wrong.push(format!("{q}: the model says {}, want {}", !want, want));
        }
    }
    assert!(wrong.is_empty(), "rules {list:?}:\n{}", wrong.join("\n"));
}

#[test]
fn no_rules_deny_everything() {
    let prog = program(&[]);
    for q in ["c 1:3 r", "c 1:3 m", "b 8:0 rwm", "c 0:0 w", "b 0:0 m"] {
        assert_eq!(run(&prog, req(q)), 0, "{q}");
    }
}

#[test]
fn system_container_defaults() {
    let list: Vec<String> = DeviceRule::system_defaults()
        .iter()
        .map(|r| r.to_string())
        .collect();
    let list: Vec<&str> = list.iter().map(String::as_str).collect();
    check(
        &list,
        &[
            // the standard nodes: null, zero, full, random, urandom, tty,
            // console, ptmx, the pts
            ("c 1:3 r", true),
            ("c 1:3 rw", true),
            ("c 1:3 rwm", true),
            ("c 1:5 rw", true),
            ("c 1:7 w", true),
            ("c 1:8 r", true),
            ("c 1:9 rw", true),
            ("c 5:0 rw", true),
            ("c 5:1 rw", true),
            ("c 5:2 rw", true),
            ("c 136:0 rw", true),
            ("c 136:1048575 rw", true),
            // not granted: /dev/mem, /dev/port, /dev/kmsg, /dev/kvm, tty0,
            // a disk; but mknod of any node (it cannot be opened)
            ("c 1:1 r", false),
            ("c 1:4 rw", false),
            ("c 1:11 w", false),
            ("c 10:232 rw", false),
            ("c 4:0 rw", false),
            ("c 5:3 rw", false),
            ("c 1:4 m", true),
            ("c 10:232 m", true),
            ("c 4095:1048575 m", true),
            ("b 8:0 m", true),
            ("b 8:0 r", false),
            ("b 8:0 rw", false),
            ("b 8:0 rm", false),
            // block devices with the numbers of granted char devices
            ("b 1:3 r", false),
            ("b 136:0 rw", false),
            ("b 5:2 w", false),
        ],
    );
}

#[test]
fn partial_access() {
    let cases = |allow: &str| -> Vec<(String, bool)> {
        let a: DeviceAccess = allow.parse().unwrap();
        ["r", "w", "m", "rw", "rm", "wm", "rwm"]
            .iter()
            .map(|q| {
                let b: DeviceAccess = q.parse().unwrap();
                let ok = (!b.read || a.read) && (!b.write || a.write) && (!b.mknod || a.mknod);
                (format!("c 10:200 {q}"), ok)
            })
            .collect()
    };
    for allow in ["r", "w", "m", "rw", "rm", "wm", "rwm"] {
        let c = cases(allow);
        let c: Vec<(&str, bool)> = c.iter().map(|(q, ok)| (q.as_str(), *ok)).collect();
        check(&[&format!("c 10:200 {allow}")], &c);
    }
    // spot checks, spelled out
    check(
        &["c 10:200 r"],
        &[
            ("c 10:200 r", true),
            ("c 10:200 w", false),
            ("c 10:200 rw", false),
            ("c 10:200 m", false),
        ],
    );
    check(
        &["c 10:200 rw"],
        &[("c 10:200 rw", true), ("c 10:200 rwm", false)],
    );
    // each rule on its own must cover the request: r and w in two rules
    // do not make rw (as the v1 controller's exceptions)
    check(
        &["c 1:3 r", "c 1:3 w"],
        &[("c 1:3 r", true), ("c 1:3 w", true), ("c 1:3 rw", false)],
    );
}

#[test]
fn wildcards_and_kinds() {
    check(
        &["a *:* rwm"],
        &[
            ("c 1:3 rwm", true),
            ("b 8:0 rw", true),
            ("c 4095:1048575 r", true),
        ],
    );
    check(&["a"], &[("b 259:7 rwm", true), ("c 0:0 m", true)]);
    check(
        &["c *:* rwm"],
        &[
            ("c 10:232 rw", true),
            ("b 8:0 r", false),
            ("b 8:0 m", false),
        ],
    );
    check(
        &["b *:* rw"],
        &[("b 8:0 rw", true), ("b 8:0 m", false), ("c 1:3 r", false)],
    );
    check(
        &["b 8:* rw"],
        &[
            ("b 8:0 r", true),
            ("b 8:16 rw", true),
            ("b 9:0 r", false),
            ("c 8:0 r", false),
        ],
    );
    check(
        &["c *:3 r"],
        &[
            ("c 1:3 r", true),
            ("c 7:3 r", true),
            ("c 1:4 r", false),
            ("b 1:3 r", false),
        ],
    );
    check(
        &["a 1:3 r"],
        &[("c 1:3 r", true), ("b 1:3 r", true), ("c 1:3 w", false)],
    );
    // the largest numbers a device can have (12-bit major, 20-bit minor)
    check(
        &["c 4095:1048575 rw"],
        &[
            ("c 4095:1048575 rw", true),
            ("c 4095:1048574 rw", false),
            ("c 4094:1048575 rw", false),
        ],
    );
}

/// Many rule sets against every request of a grid: the program agrees
/// with the model everywhere, and rule order does not matter.
#[test]
fn program_agrees_with_the_model() {
    let sets: [&[&str]; 7] = [
        &[],
        &["c 1:3 rwm", "b 8:* r", "c *:* m"],
        &["a *:5 w", "c 5:* r"],
        &["b 1:3 rw", "c 1:3 m"],
        &["c 10:200 rwm", "c 10:232 rw", "b 7:0 r"],
        &["a 1:* rm", "b *:0 w"],
        &["c 136:* rwm", "a *:* m", "c 1:3 rwm", "c 1:5 rwm"],
    ];
    let accesses = ["r", "w", "m", "rw", "rm", "wm", "rwm"];
    for set in sets {
        let mut rs = rules(set);
        for pass in 0..2 {
            if pass == 1 {
                rs.reverse();
            }
            let prog = program(&rs);
            for kind in ["c", "b"] {
                for major in [0, 1, 5, 7, 8, 10, 136, 4095] {
                    for minor in [0, 3, 5, 200, 232, 1048575] {
                        for a in accesses {
                            let q = req(&format!("{kind} {major}:{minor} {a}"));
                            let got = run(&prog, q);
                            assert_eq!(
                                got == 1,
                                model(&rs, q),
                                "rules {set:?} (pass {pass}), request {kind} {major}:{minor} {a}"
                            );
                        }
                    }
                }
            }
        }
    }
}

/// The interpreter itself: it refuses what the verifier would.
#[test]
#[should_panic(expected = "reads r0")]
fn the_interpreter_refuses_an_unset_return_value() {
    run(&[insn(EXIT, 0, 0, 0, 0)], req("c 1:3 r"));
}

#[test]
#[should_panic(expected = "out of the program")]
fn the_interpreter_refuses_a_jump_out() {
    let p = [
        insn(MOV64_K, 0, 0, 0, 0),
        insn(JNE_K, 0, 0, 5, 1),
        insn(EXIT, 0, 0, 0, 0),
    ];
    run(&p, req("c 1:3 r"));
}
