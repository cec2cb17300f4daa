//! Real distributions: Debian 12 with systemd, sysvinit, OpenRC and runit
//! (trees from tests/images/build-debian.sh, cached), each booted with the
//! defaults (id map, idmapped tree under an overlay, halt and cgroup
//! delegation chosen by the init found), checked from outside through the
//! API: booted to its target, exec (ps, ip, mount, id; a terminal of the
//! container's own devpts), ttys, console; halted with its own signal and
//! rebooted from inside, each end recorded; started again. Run as root; a
//! host without the trees skips (the VM must not).

mod common;

use common::distro::{distro_map, image, Layered};
use common::*;
use std::time::{Duration, Instant};
use vpsos::{Config, Container, CreateOptions, EndReason, Process, Status};

/// How long a boot may take (the test VM emulates its CPU).
const BOOT: Duration = Duration::from_secs(180);

fn distro_config(root: &std::path::Path, init: &str) -> Config {
    Config::builder(root)
        .id_maps(distro_map())
        .hostname(&format!("deb-{init}"))
        .cgroup(vpsos::CgroupPlacement::at(format!(
            "{CGROUP_PARENT}/{{id}}"
        )))
        .build()
        .unwrap()
}

/// The script that exits 0 once `init` has reached its target.
fn ready_script(init: &str) -> &'static str {
    match init {
        "systemd" => "s=$(systemctl is-system-running); [ \"$s\" = running ] || { echo \"$s\"; systemctl --failed --no-legend; exit 1; }",
        // runlevel 2, and rc done with it
        // (the [c] keeps grep from finding this very script)
        "sysvinit" => "[ \"$(runlevel)\" = 'N 2' ] && ! ps -eo args | grep -q '/etc/init.d/r[c] 2'",
        "openrc" => "[ \"$(cat /run/openrc/softlevel 2>/dev/null)\" = default ] && [ -z \"$(ls /run/openrc/starting 2>/dev/null)\" ] && ! ps -eo args | grep -q '/etc/init.d/r[c] 2'",
        "runit" => "pgrep -x runsvdir >/dev/null && sv status /etc/service/getty-tty1 | grep -q '^run:'",
        _ => unreachable!(),
    }
}

/// Poll `ready_script` until it passes; how long that took from `t0`.
fn wait_ready(ct: &Container, init: &str, t0: Instant) -> Duration {
    let mut last = String::new();
    while t0.elapsed() < BOOT {
        let (st, out) = exec_sh(ct, ready_script(init));
        if st.success() {
            return t0.elapsed();
        }
        last = out;
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{init} not ready after {BOOT:?}: {last}\nconsole:\n{}",
        String::from_utf8_lossy(&ct.console_log().unwrap_or_default())
    );
}

/// Boot `init`'s tree, check it inside out, halt it, boot it again,
/// reboot it from inside.
fn boot_cycle(init: &str) {
    let img = match image(init) {
        Ok(i) => i,
        Err(why) => {
            skip_unless!(false, &format!("boot_{init}"), why);
            unreachable!()
        }
    };
    let layers = Layered::new(&img, &id(init));
    let cfg = distro_config(&layers.root(), init);
    let rt = runtime();
    let id = id(init);
    let t0 = Instant::now();
    let ct = rt.run(&id, &cfg, CreateOptions::default()).unwrap();
    let took = wait_ready(&ct, init, t0);
    println!("{init}: ready in {took:?}");

    // systemd got its cgroup delegated without being asked; container= set
    let (_, env) = exec_sh(&ct, "tr '\\0' '\\n' < /proc/1/environ | grep ^container=");
    assert_eq!(env.trim(), "container=lxc", "{init}");
    if init == "systemd" {
        let (_, virt) = exec_sh(&ct, "systemd-detect-virt");
        assert_eq!(virt.trim(), "lxc");
        let (_, failed) = exec_sh(&ct, "systemctl --failed --no-legend");
        assert_eq!(failed.trim(), "", "failed units");
    }
    if init == "systemd" && vpsos::HostFeatures::get().cgroup_mode == vpsos::CgroupMode::Unified {
        // systemd enabled controllers in the top cgroup, which then takes
        // no processes: the execs above went to the init's cgroup
        let top = ct.cgroup().unwrap();
        let dir = top.dirs().next().unwrap().to_path_buf();
        let ctl = std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap();
        assert!(!ctl.trim().is_empty(), "systemd enabled no controllers");
    }
    if init == "openrc" {
        let (_, sys) = exec_sh(&ct, "openrc --sys");
        assert_eq!(sys.trim(), "LXC");
    }
    // the usual tools, as the container's root
    let (st, out) = exec_sh(
        &ct,
        "ps -e | grep -c . && ip -o link show lo && mount | grep -c ' / ' && id -u",
    );
    assert!(st.success(), "{init}: {out}");
    assert!(out.trim_end().ends_with("\n0"), "{init}: {out}");
    // a terminal of the container's own devpts
    let p = ct
        .exec(
            &Process::new(["/bin/sh", "-c", "tty"]).terminal(true),
            CreateOptions::default(),
        )
        .unwrap();
    let mut m = std::fs::File::from(p.take_console().unwrap());
    assert!(p.wait().unwrap().success());
    let mut tty = String::new();
    let _ = std::io::Read::read_to_string(&mut m, &mut tty);
    assert!(tty.contains("/dev/pts/"), "{init}: tty said {tty:?}");
    // ttys for gettys, a console that shows the boot, a boot id of its own
    let (_, ttys) = exec_sh(
        &ct,
        "ls /dev/tty1 /dev/tty4 && cat /proc/sys/kernel/random/boot_id",
    );
    let host_boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    assert!(
        ttys.contains("/dev/tty4") && !ttys.contains(host_boot.trim()),
        "{ttys}"
    );
    let log = String::from_utf8_lossy(&ct.console_log().unwrap()).into_owned();
    assert!(!log.trim().is_empty(), "{init}: nothing on the console");
    let (st, out) = exec_sh(&ct, "echo 1 > /proc/sys/kernel/panic");
    assert!(!st.success() && out.contains("Read-only"), "{init}: {out}");

    // halt, the way an operator stops it: its own way, no SIGKILL
    let how = ct.stop(Duration::from_secs(60)).unwrap();
    assert!(!how.killed, "{init}: had to be killed");
    assert_eq!(how.exit.reason(), EndReason::Halt, "{init}: {how:?}");
    ct.delete().unwrap();

    // again from the same description; then a reboot from inside
    let t0 = Instant::now();
    let ct = rt.run(&id, &cfg, CreateOptions::default()).unwrap();
    wait_ready(&ct, init, t0);
    let reboot = if init == "systemd" {
        "systemctl reboot"
    } else {
        "reboot"
    };
    exec_sh(&ct, reboot);
    let how = ct
        .wait_timeout(Duration::from_secs(60))
        .unwrap()
        .expect("rebooted");
    assert_eq!(how.reason(), EndReason::Reboot, "{init}: {how:?}");
    assert_eq!(ct.state().unwrap().status, Status::Stopped);
    ct.delete().unwrap();
    assert_no_leaks(&id, &layers.root());
}

#[test]
fn boot_systemd() {
    require_root!();
    boot_cycle("systemd");
}

#[test]
fn boot_sysvinit() {
    require_root!();
    boot_cycle("sysvinit");
}

#[test]
fn boot_openrc() {
    require_root!();
    boot_cycle("openrc");
}

#[test]
fn boot_runit() {
    require_root!();
    boot_cycle("runit");
}

/// A systemd init with its cgroup explicitly not delegated could only die
/// at once: refused before anything is made, naming the field.
#[test]
fn systemd_without_delegation_is_refused() {
    require_root!();
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("lib/systemd")).unwrap();
    std::fs::create_dir_all(root.path().join("sbin")).unwrap();
    std::fs::write(root.path().join("lib/systemd/systemd"), "").unwrap();
    std::os::unix::fs::symlink("/lib/systemd/systemd", root.path().join("sbin/init")).unwrap();
    let cfg = Config::builder(root.path())
        .id_maps(distro_map())
        .cgroup(vpsos::CgroupPlacement::at(format!(
            "{CGROUP_PARENT}/{{id}}"
        )))
        .delegate_cgroup(false)
        .build()
        .unwrap();
    let id = "distro-nodelegate";
    let e = runtime()
        .create(id, &cfg, CreateOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), vpsos::ErrorKind::InvalidConfig, "{e}");
    assert_eq!(e.field(), Some("cgroup.delegate"), "{e}");
    assert!(e.to_string().contains("systemd"), "{e}");
    assert_no_leaks(id, root.path());
}

/// The tree on a ZFS dataset, idmapped straight (the test VM has ZFS).
#[test]
fn boot_systemd_on_zfs_idmapped() {
    require_root!();
    let zfs = common::zfs::zfs();
    skip_unless!(
        zfs.is_some(),
        "boot_systemd_on_zfs_idmapped",
        "the host has no ZFS"
    );
    let img = match image("systemd") {
        Ok(i) => i,
        Err(why) => {
            skip_unless!(false, "boot_systemd_on_zfs_idmapped", why);
            unreachable!()
        }
    };
    let pool = common::zfs::Pool::with_size("dist", 1 << 30);
    let ds = pool.ds("ct");
    let zfs = zfs.unwrap();
    // osctld's dataset properties: the tree carries POSIX ACLs
    zfs.create(&ds, &[("acltype", "posix"), ("xattr", "sa")])
        .unwrap();
    let root = pool.path("ct");
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(img.join("."))
        .arg(&root)
        .status()
        .unwrap()
        .success();
    assert!(ok, "copying the tree into {ds}");
    let cfg = Config::builder(&root)
        .id_maps(distro_map())
        .idmapped_rootfs(true)
        .cgroup(vpsos::CgroupPlacement::at(format!(
            "{CGROUP_PARENT}/{{id}}"
        )))
        .build()
        .unwrap();
    let id = id("zfsboot");
    let t0 = Instant::now();
    let ct = runtime().run(&id, &cfg, CreateOptions::default()).unwrap();
    println!(
        "systemd on ZFS: ready in {:?}",
        wait_ready(&ct, "systemd", t0)
    );
    let how = ct.stop(Duration::from_secs(60)).unwrap();
    assert_eq!((how.exit.reason(), how.killed), (EndReason::Halt, false));
    ct.delete().unwrap();
    // what journald wrote at boot landed on disk as 0 (the map's other
    // side): its persistent journal, /var/log/journal/<machine id>/
    let journal = std::fs::read_dir(root.join("var/log/journal"))
        .unwrap()
        .filter_map(|e| e.ok())
        .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten())
        .filter_map(|e| e.ok())
        .find(|e| e.file_name() == "system.journal")
        .expect("journald wrote no system.journal");
    let md = journal.metadata().unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&md), 0);
    assert_no_leaks(&id, &root);
}

/// A copy of the tree shifted with chown_shift (no idmapped mount):
/// hard links once, the journal's ACL shifted, capabilities kept; it
/// boots, and a second shift changes nothing.
#[test]
fn boot_after_chown_shift() {
    require_root!();
    let img = match image("systemd") {
        Ok(i) => i,
        Err(why) => {
            skip_unless!(false, "boot_after_chown_shift", why);
            unreachable!()
        }
    };
    let id = id("shifted");
    let root = std::path::PathBuf::from(format!("/var/tmp/vpsos-tests/distros/{id}"));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let ok = std::process::Command::new("cp")
        .args(["-a", "--preserve=all"])
        .arg(img.join("."))
        .arg(&root)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let m = distro_map();
    let n = vpsos::rootfs::chown_shift(&root, &m, &m).unwrap();
    assert!(n > 5000, "{n} inodes shifted");
    assert_eq!(vpsos::rootfs::chown_shift(&root, &m, &m).unwrap(), 0);
    // perl and perl5.36.0 are one inode: shifted once
    let md = |p: &str| std::fs::symlink_metadata(root.join(p)).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(md("usr/bin/perl").ino(), md("usr/bin/perl5.36.0").ino());
    assert_eq!(md("usr/bin/perl").uid(), 1_000_000);
    // the ACL of /var/log/journal names host ids now (it had gid 4, adm)
    let acl = xattr(&root.join("var/log/journal"), "system.posix_acl_default");
    let ids: Vec<(u16, u32)> = acl[4..]
        .chunks(8)
        .map(|e| {
            (
                u16::from_le_bytes([e[0], e[1]]),
                u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
            )
        })
        .filter(|(tag, _)| *tag == 0x02 || *tag == 0x08)
        .collect();
    assert!(
        !ids.is_empty() && ids.iter().all(|(_, id)| *id >= 1_000_000),
        "{ids:?}"
    );
    let cfg = Config::builder(&root)
        .id_maps(m)
        .cgroup(vpsos::CgroupPlacement::at(format!(
            "{CGROUP_PARENT}/{{id}}"
        )))
        .build()
        .unwrap();
    let t0 = Instant::now();
    let ct = runtime().run(&id, &cfg, CreateOptions::default()).unwrap();
    wait_ready(&ct, "systemd", t0);
    ct.stop(Duration::from_secs(60)).unwrap();
    ct.delete().unwrap();
    assert_no_leaks(&id, &root);
    std::fs::remove_dir_all(&root).unwrap();
}

/// An extended attribute of `p` (not following symlinks).
fn xattr(p: &std::path::Path, name: &str) -> Vec<u8> {
    let cp = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let cn = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = unsafe {
        libc::lgetxattr(
            cp.as_ptr(),
            cn.as_ptr(),
            buf.as_mut_ptr() as *mut libc::c_void,
            buf.len(),
        )
    };
    assert!(n > 4, "{name} of {}", p.display());
    buf.truncate(n as usize);
    buf
}
