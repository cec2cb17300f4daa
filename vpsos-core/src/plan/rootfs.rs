//! Planning the container's filesystem: the default /proc, /sys and /dev
//! mounts, device nodes, the config's mounts, masked and read-only paths.
//!
//! This runs in the parent and produces a [`RootfsPlan`] of C strings; the
//! child carries it out (see `spawn`), resolving every destination inside
//! the rootfs.

use super::{DevNode, MountOp, RootfsPlan};
use crate::config::{Config, MountKind, NamespaceKind};
use crate::error::{Error, Result};
use libc::c_ulong;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The standard character devices of a container's /dev.
pub const STANDARD_DEVICES: [(&str, u32, u32); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

const DEV_SYMLINKS: [(&str, &str); 5] = [
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
    ("pts/ptmx", "ptmx"),
];

pub(crate) fn cstr(s: impl AsRef<[u8]>, what: &str) -> Result<CString> {
    CString::new(s.as_ref()).map_err(|_| Error::invalid(what, "contains a NUL byte"))
}

/// A path inside the container, without its leading `/`.
fn rel(p: &Path, what: &str) -> Result<CString> {
    let b = p.as_os_str().as_bytes();
    let b = b.strip_prefix(b"/").unwrap_or(b);
    cstr(b, what)
}

fn op(
    source: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: c_ulong,
    data: Option<&str>,
) -> MountOp {
    MountOp {
        source: source.map(|s| CString::new(s).expect("static string")),
        target: CString::new(target).expect("static string"),
        fstype: fstype.map(|s| CString::new(s).expect("static string")),
        flags,
        data: data.map(|s| CString::new(s).expect("static string")),
        target_is_file: false,
        remount_flags: 0,
        propagation: 0,
        label: format!("/{target} ({})", fstype.unwrap_or("bind")),
    }
}

/// Build the rootfs plan for `config`; `terminals` are the host pty slaves
/// to appear as /dev/console, /dev/tty1, ... (with the default /dev).
pub(crate) fn plan(config: &Config, terminals: Vec<CString>) -> Result<RootfsPlan> {
    let ns = &config.namespaces;
    let userns = ns.get(NamespaceKind::User).is_some();
    let mut p = RootfsPlan {
        rootfs: cstr(config.rootfs.as_os_str().as_bytes(), "rootfs")?,
        propagation: config.root_propagation.ms_flag(),
        readonly_rootfs: config.readonly_rootfs,
        bind_devices: userns,
        ..RootfsPlan::default()
    };
    let nsd = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    let sys_is_bind = userns && !ns.is_new(NamespaceKind::Network);
    if config.default_mounts {
        p.base_mounts
            .push(op(Some("proc"), "proc", Some("proc"), nsd, None));
        if !sys_is_bind {
            p.base_mounts.push(op(
                Some("sysfs"),
                "sys",
                Some("sysfs"),
                nsd | libc::MS_RDONLY,
                None,
            ));
        } else {
            // sysfs may only be mounted by the owner of the network namespace
            let mut m = op(
                Some("/sys"),
                "sys",
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            );
            m.remount_flags = libc::MS_RDONLY | nsd;
            p.base_mounts.push(m);
        }
        p.base_mounts.push(op(
            Some("tmpfs"),
            "dev",
            Some("tmpfs"),
            libc::MS_NOSUID | libc::MS_STRICTATIME,
            Some("mode=755,size=65536k"),
        ));
        let tty_gid_mapped = config.gid_map.as_ref().is_none_or(|m| m.maps(5));
        let pts_opts = if tty_gid_mapped {
            "newinstance,ptmxmode=0666,mode=0620,gid=5"
        } else {
            "newinstance,ptmxmode=0666,mode=0620"
        };
        p.base_mounts.push(op(
            Some("devpts"),
            "dev/pts",
            Some("devpts"),
            libc::MS_NOSUID | libc::MS_NOEXEC,
            Some(pts_opts),
        ));
        p.base_mounts.push(op(
            Some("shm"),
            "dev/shm",
            Some("tmpfs"),
            nsd,
            Some("mode=1777,size=65536k"),
        ));
        if ns.is_new(NamespaceKind::Ipc) {
            p.base_mounts
                .push(op(Some("mqueue"), "dev/mqueue", Some("mqueue"), nsd, None));
        }
        standard_dev(&mut p);
        p.terminals = terminals;
    }
    for (i, m) in config.mounts.iter().enumerate() {
        p.mounts.push(user_mount(i, m)?);
    }
    if let Some(i) = own_dev_tmpfs(config) {
        // the config's mounts up to its /dev go before the nodes, the
        // rest (and granted devices' nodes) after
        let rest = p.mounts.split_off(i + 1);
        p.base_mounts.append(&mut p.mounts);
        p.mounts = rest;
        standard_dev(&mut p);
    }
    if config.cgroup.enabled && config.cgroup.mount && ns.is_new(NamespaceKind::Cgroup) {
        let delegate = config.cgroup.delegate == Some(true);
        if config.default_mounts {
            p.cgroup_mounts = cgroup_mounts(delegate, sys_is_bind);
        } else if let Some(m) = config
            .mounts
            .iter()
            .find(|m| m.destination == Path::new("/sys"))
        {
            // the config's own /sys (an OCI config's, whose cgroup mount
            // vpsos makes this way)
            let is_bind = matches!(m.kind, MountKind::Bind { .. });
            p.cgroup_mounts = cgroup_mounts(delegate, is_bind);
        }
    }
    for (i, m) in config.masked_paths.iter().enumerate() {
        p.masked.push(rel(m, &format!("masked_paths[{i}]"))?);
    }
    for (i, m) in config.readonly_paths.iter().enumerate() {
        p.readonly.push(rel(m, &format!("readonly_paths[{i}]"))?);
    }
    // LXC's proc:mixed: /proc/sys read-only, but the (namespaced) net part
    if config.default_mounts && !config.writable_proc_sys {
        if ns.is_new(NamespaceKind::Network) {
            p.writable
                .push(CString::new("proc/sys/net").expect("static"));
        }
        p.readonly.push(CString::new("proc/sys").expect("static"));
    }
    Ok(p)
}

/// The standard nodes and symlinks of /dev.
fn standard_dev(p: &mut RootfsPlan) {
    for (name, major, minor) in STANDARD_DEVICES {
        p.devices.push(DevNode {
            name: CString::new(name).expect("static"),
            host: CString::new(format!("/dev/{name}")).expect("static"),
            mode: libc::S_IFCHR | 0o666,
            dev: libc::makedev(major, minor),
        });
    }
    for (target, name) in DEV_SYMLINKS {
        p.dev_symlinks.push((
            CString::new(target).expect("static"),
            CString::new(name).expect("static"),
        ));
    }
}

/// Without the default mounts, the index of the config's own tmpfs at
/// /dev (an OCI config's): the OCI runtime spec has the runtime put
/// null, zero, full, random, urandom, tty, the ptmx link and the fd,
/// stdin, stdout and stderr links in it, as vpsos does in its own /dev.
fn own_dev_tmpfs(config: &Config) -> Option<usize> {
    if config.default_mounts {
        return None;
    }
    config.mounts.iter().position(|m| {
        m.destination == Path::new("/dev")
            && match &m.kind {
                MountKind::Tmpfs => true,
                MountKind::Fs { fstype, .. } => fstype == "tmpfs",
                MountKind::Bind { .. } => false,
            }
    })
}

/// The container's view of its cgroup at /sys/fs/cgroup (read-only unless
/// delegated): cgroup2 on a v2 host; on v1 a tmpfs with one mount per
/// hierarchy, named as on the host. `sys_is_bind`: /sys is the host's,
/// bound with its cgroup2 at sys/fs/cgroup, where the kernel refuses the
/// same filesystem again (EBUSY); a tmpfs goes between them.
fn cgroup_mounts(delegate: bool, sys_is_bind: bool) -> Vec<MountOp> {
    let nsd = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    let ro = if delegate { 0 } else { libc::MS_RDONLY };
    let mut v = Vec::new();
    if crate::HostFeatures::get().cgroup_mode == crate::CgroupMode::Unified {
        if sys_is_bind {
            v.push(op(
                Some("tmpfs"),
                "sys/fs/cgroup",
                Some("tmpfs"),
                nsd,
                Some("mode=755,size=4k"),
            ));
        }
        v.push(op(
            Some("cgroup2"),
            "sys/fs/cgroup",
            Some("cgroup2"),
            nsd | ro,
            None,
        ));
        return v;
    }
    v.push(op(
        Some("tmpfs"),
        "sys/fs/cgroup",
        Some("tmpfs"),
        nsd,
        Some("mode=755,size=64k"),
    ));
    for h in crate::cgroup::hierarchies() {
        let Some(name) = h.mountpoint.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let target = format!("sys/fs/cgroup/{name}");
        if h.v2 {
            v.push(op(
                Some("cgroup2"),
                &target,
                Some("cgroup2"),
                nsd | ro,
                None,
            ));
        } else {
            let opts = h.controllers.join(",");
            v.push(op(
                Some("cgroup"),
                &target,
                Some("cgroup"),
                nsd | ro,
                Some(&opts),
            ));
        }
    }
    v
}

/// Whether the container's view of its cgroup is made of binds of its
/// host cgroup directories: it wants /sys/fs/cgroup mounted but has no
/// cgroup namespace of its own to mount cgroupfs in (runc's way on v1,
/// what podman asks for there). The binds come from the host's tree, so
/// the cgroup must exist before the clone.
pub(crate) fn cgroup_binds(config: &Config) -> bool {
    config.cgroup.enabled
        && config.cgroup.mount
        && !config.namespaces.is_new(NamespaceKind::Cgroup)
        && (config.default_mounts
            || config
                .mounts
                .iter()
                .any(|m| m.destination == Path::new("/sys")))
}

/// The binds of [`cgroup_binds`] for cgroup `path`, after the config's
/// mounts: the container's directory of each hierarchy at the place the
/// hierarchy has on the host (v1: under a tmpfs at /sys/fs/cgroup),
/// read-only unless `writable` (delegated).
pub(crate) fn add_cgroup_binds(p: &mut RootfsPlan, path: &str, writable: bool) -> Result<()> {
    let nsd = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    let remount = nsd | if writable { 0 } else { libc::MS_RDONLY };
    let bind = |source: &Path, target: &str| -> Result<MountOp> {
        Ok(MountOp {
            source: Some(cstr(source.as_os_str().as_bytes(), "cgroup.path")?),
            remount_flags: remount,
            label: format!("/{target} (bind of {})", source.display()),
            ..op(None, target, None, libc::MS_BIND, None)
        })
    };
    let hierarchies = crate::cgroup::hierarchies();
    if crate::HostFeatures::get().cgroup_mode == crate::CgroupMode::Unified {
        if let Some(h) = hierarchies.iter().find(|h| h.v2) {
            p.mounts
                .push(bind(&h.mountpoint.join(path), "sys/fs/cgroup")?);
        }
        return Ok(());
    }
    p.mounts.push(op(
        Some("tmpfs"),
        "sys/fs/cgroup",
        Some("tmpfs"),
        nsd,
        Some("mode=755,size=64k"),
    ));
    for h in hierarchies {
        let Some(name) = h.mountpoint.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        p.mounts.push(bind(
            &h.mountpoint.join(path),
            &format!("sys/fs/cgroup/{name}"),
        )?);
    }
    Ok(())
}

/// Bind mounts of granted devices' host nodes, `(path in the container,
/// host node, rule)`, to go before the config's own mounts.
pub(crate) fn add_device_nodes(
    p: &mut RootfsPlan,
    nodes: &[(std::path::PathBuf, std::path::PathBuf, String)],
) -> Result<()> {
    let mut binds = Vec::new();
    for (target, host, rule) in nodes {
        binds.push(MountOp {
            source: Some(cstr(host.as_os_str().as_bytes(), "devices.path")?),
            target: rel(target, "devices.path")?,
            fstype: None,
            flags: libc::MS_BIND,
            data: None,
            target_is_file: true,
            remount_flags: 0,
            propagation: 0,
            label: format!("{} (device {rule})", target.display()),
        });
    }
    binds.append(&mut p.mounts);
    p.mounts = binds;
    Ok(())
}

fn user_mount(i: usize, m: &crate::config::Mount) -> Result<MountOp> {
    let field = |f: &str| format!("mounts[{i}].{f}");
    let mut flags = 0;
    if m.readonly {
        flags |= libc::MS_RDONLY;
    }
    if m.nosuid {
        flags |= libc::MS_NOSUID;
    }
    if m.nodev {
        flags |= libc::MS_NODEV;
    }
    if m.noexec {
        flags |= libc::MS_NOEXEC;
    }
    flags |= m.extra_flags();
    let target = rel(&m.destination, &field("destination"))?;
    let data = m
        .data
        .as_deref()
        .map(|d| cstr(d, &field("data")))
        .transpose()?;
    let label = format!("{}", m.destination.display());
    let rec = if m.recursive { libc::MS_REC } else { 0 };
    let propagation = m.propagation.map_or(0, |p| p.ms_flag() | rec);
    Ok(match &m.kind {
        MountKind::Bind { source } => {
            // a missing source is reported by the child (stage mount, ENOENT)
            let is_file = std::fs::metadata(source).is_ok_and(|m| !m.is_dir());
            MountOp {
                source: Some(cstr(source.as_os_str().as_bytes(), &field("source"))?),
                target,
                fstype: None,
                flags: libc::MS_BIND | if m.recursive { libc::MS_REC } else { 0 },
                data: None,
                target_is_file: is_file,
                remount_flags: flags,
                propagation,
                label: format!("{label} (bind from {})", source.display()),
            }
        }
        MountKind::Tmpfs => MountOp {
            source: Some(CString::new("tmpfs").expect("static")),
            target,
            fstype: Some(CString::new("tmpfs").expect("static")),
            flags,
            data,
            target_is_file: false,
            remount_flags: 0,
            propagation,
            label: format!("{label} (tmpfs)"),
        },
        MountKind::Fs { fstype, source } => MountOp {
            source: Some(cstr(source, &field("source"))?),
            target,
            fstype: Some(cstr(fstype, &field("fstype"))?),
            flags,
            data,
            target_is_file: false,
            remount_flags: 0,
            propagation,
            label: format!("{label} ({fstype})"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, IdMap, Mount};

    #[test]
    fn plans_defaults_and_binds() {
        let c = Config::builder("/srv/ct")
            .id_maps(IdMap::single(0, 100000, 65536))
            .mount(Mount::bind("/etc/hostname", "/etc/host-name").readonly())
            .mount(Mount::tmpfs("/run").data("mode=755"))
            .build()
            .unwrap();
        let p = plan(&c, vec![]).unwrap();
        let targets: Vec<_> = p
            .base_mounts
            .iter()
            .map(|m| m.target.to_str().unwrap())
            .collect();
        assert_eq!(
            targets,
            ["proc", "sys", "dev", "dev/pts", "dev/shm", "dev/mqueue"]
        );
        assert!(p.bind_devices);
        assert_eq!(p.mounts[0].remount_flags, libc::MS_RDONLY);
        assert!(p.mounts[0].target_is_file);
        assert_eq!(p.mount_label(6), "/etc/host-name (bind from /etc/hostname)");
        assert_eq!(p.masked[0].to_str().unwrap(), "proc/acpi");
    }

    #[test]
    fn a_configs_own_dev_tmpfs_gets_the_standard_nodes() {
        let mut c = Config::builder("/srv/ct")
            .id_maps(IdMap::single(0, 100000, 65536))
            .build()
            .unwrap();
        c.default_mounts = false;
        c.mounts = vec![
            Mount::fs("proc", "proc", "/proc"),
            Mount::tmpfs("/dev").data("mode=755"),
            Mount::fs("devpts", "devpts", "/dev/pts"),
        ];
        let p = plan(&c, vec![]).unwrap();
        let base: Vec<_> = p
            .base_mounts
            .iter()
            .map(|m| m.target.to_str().unwrap())
            .collect();
        assert_eq!(base, ["proc", "dev"]);
        assert_eq!(p.mounts[0].target.to_str().unwrap(), "dev/pts");
        assert_eq!(p.devices.len(), STANDARD_DEVICES.len());
        assert!(p
            .dev_symlinks
            .iter()
            .any(|(t, n)| t.to_str() == Ok("pts/ptmx") && n.to_str() == Ok("ptmx")));
        assert_eq!(p.mount_label(2), "/dev/pts (devpts)");
        // without a /dev of its own: nothing made
        c.mounts.remove(1);
        let p = plan(&c, vec![]).unwrap();
        assert!(p.devices.is_empty() && p.base_mounts.is_empty());
    }
}
