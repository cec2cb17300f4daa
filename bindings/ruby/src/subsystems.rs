//! The subsystems osctld calls on their own: id ranges, cgroups,
//! AppArmor and directory storage (ZFS and netlink in zfs_net.rs).

use crate::gvl::nogvl;
use crate::{from_json, to_json, RbResult};
use magnus::{function, method, prelude::*, Error, RModule, Ruby, Symbol};
use std::os::fd::FromRawFd;
use std::path::Path;
use std::time::Duration;
use vpsos_core::cgroup::Cgroup;
use vpsos_core::config::Resources;
use vpsos_core::security::apparmor;
use vpsos_core::storage::{export, DirStorage};
use vpsos_core::{CgroupMode, HostFeatures, IdRange, IdRangeAllocation};

#[magnus::wrap(class = "Vpsos::IdRange", free_immediately, size)]
struct RIdRange(IdRange);

#[magnus::wrap(class = "Vpsos::Cgroup", free_immediately, size)]
struct RCgroup(Cgroup);

#[magnus::wrap(class = "Vpsos::DirStorage", free_immediately, size)]
struct RDirStorage(DirStorage);

type Alloc = (u64, u64, String, u32, u32);

fn alloc(a: IdRangeAllocation) -> Alloc {
    (
        a.index,
        a.count,
        a.owner.clone(),
        a.first_id(),
        a.id_count(),
    )
}

impl RIdRange {
    fn open(
        path: String,
        start: u64,
        block_size: u64,
        block_count: u64,
    ) -> Result<RIdRange, Error> {
        Ok(RIdRange(
            IdRange::open_or_create(path, start, block_size, block_count).rb()?,
        ))
    }
    fn path(&self) -> String {
        self.0.path().to_string_lossy().into_owned()
    }
    fn allocate(&self, count: u64, owner: String) -> Result<Alloc, Error> {
        Ok(alloc(self.0.allocate(count, &owner).rb()?))
    }
    fn allocate_at(&self, index: u64, count: u64, owner: String) -> Result<Alloc, Error> {
        Ok(alloc(self.0.allocate_at(index, count, &owner).rb()?))
    }
    fn free(&self, index: u64) -> Result<Alloc, Error> {
        Ok(alloc(self.0.free(index).rb()?))
    }
    fn free_owner(&self, owner: String) -> Result<usize, Error> {
        self.0.free_owner(&owner).rb()
    }
    fn list(&self) -> Result<Vec<Alloc>, Error> {
        Ok(self.0.list().rb()?.into_iter().map(alloc).collect())
    }
}

impl RCgroup {
    fn open(path: String) -> RCgroup {
        RCgroup(Cgroup::open(&path))
    }
    fn create(path: String) -> Result<RCgroup, Error> {
        Ok(RCgroup(Cgroup::create(&path).rb()?))
    }
    fn path(&self) -> String {
        self.0.path().to_string()
    }
    fn exists(&self) -> bool {
        self.0.exists()
    }
    fn procs(&self) -> Result<Vec<i32>, Error> {
        self.0.procs().rb()
    }
    fn attach(&self, pid: i32) -> Result<(), Error> {
        self.0.attach(pid).rb()
    }
    fn stats_json(&self) -> Result<String, Error> {
        Ok(to_json(&self.0.stats().rb()?))
    }
    fn set_resources(&self, json: String) -> Result<(), Error> {
        let r: Resources = from_json(&json, "resources")?;
        self.0.set_resources(&r).rb()
    }
    fn resources_json(&self) -> Result<String, Error> {
        Ok(to_json(&self.0.resources().rb()?))
    }
    fn freeze(&self) -> Result<(), Error> {
        nogvl(|| self.0.freeze()).rb()
    }
    fn thaw(&self) -> Result<(), Error> {
        nogvl(|| self.0.thaw()).rb()
    }
    fn is_frozen(&self) -> Result<bool, Error> {
        self.0.is_frozen().rb()
    }
    fn kill_all(&self, timeout: f64) -> Result<(), Error> {
        nogvl(|| self.0.kill_all(Duration::from_secs_f64(timeout.max(0.0)))).rb()
    }
    fn remove(&self) -> Result<(), Error> {
        nogvl(|| self.0.remove()).rb()
    }
}

fn cgroup_mode() -> Symbol {
    Symbol::new(match HostFeatures::get().cgroup_mode {
        CgroupMode::Unified => "unified",
        CgroupMode::Hybrid => "hybrid",
        CgroupMode::Legacy => "legacy",
        _ => "none",
    })
}

fn has_feature(name: String) -> bool {
    HostFeatures::get().has(&name)
}

fn aa_dir(dir: Option<String>) -> std::path::PathBuf {
    dir.map(Into::into).unwrap_or_else(apparmor::policy_dir)
}

fn aa_load(name: String, text: String, dir: Option<String>) -> Result<Symbol, Error> {
    let dir = aa_dir(dir);
    let r = nogvl(|| apparmor::load(&dir, &name, &text)).rb()?;
    Ok(Symbol::new(match r {
        apparmor::Load::Parsed => "parsed",
        apparmor::Load::Unchanged => "unchanged",
    }))
}

fn aa_unload(name: String, dir: Option<String>) -> Result<(), Error> {
    apparmor::unload_profile(&aa_dir(dir), &name).rb()
}

fn aa_loaded(name: String) -> bool {
    apparmor::is_loaded(&name)
}

fn aa_enabled() -> bool {
    HostFeatures::get().apparmor
}

/// The caller's fd as a File for one call, never closed here.
pub(crate) fn fd_file(fd: i32) -> Result<std::mem::ManuallyDrop<std::fs::File>, Error> {
    if fd < 0 {
        return Err(crate::arg_err(format!("not an fd: {fd}")));
    }
    // SAFETY: the Ruby IO keeps fd open for the call; never closed here
    Ok(std::mem::ManuallyDrop::new(unsafe {
        std::fs::File::from_raw_fd(fd)
    }))
}

impl RDirStorage {
    fn new(root: String) -> RDirStorage {
        RDirStorage(DirStorage::new(root))
    }
    fn path(&self, name: String) -> String {
        self.0.path(&name).to_string_lossy().into_owned()
    }
    fn list(&self) -> Result<Vec<String>, Error> {
        self.0.list().rb()
    }
    fn create_from_tarball(&self, name: String, tarball: String) -> Result<String, Error> {
        let p = nogvl(|| self.0.create_from_tarball(&name, &tarball)).rb()?;
        Ok(p.to_string_lossy().into_owned())
    }
    fn create_from_dir(&self, name: String, src: String) -> Result<String, Error> {
        let p = nogvl(|| self.0.create_from_dir(&name, &src)).rb()?;
        Ok(p.to_string_lossy().into_owned())
    }
    fn create_from_tar(&self, name: String, fd: i32) -> Result<String, Error> {
        let mut f = fd_file(fd)?;
        let p = nogvl(|| self.0.create_from_tar(&name, &mut *f)).rb()?;
        Ok(p.to_string_lossy().into_owned())
    }
    fn size(&self, name: String) -> Result<u64, Error> {
        nogvl(|| self.0.size(&name)).rb()
    }
    fn delete(&self, name: String) -> Result<(), Error> {
        nogvl(|| self.0.delete(&name)).rb()
    }
    fn import(&self, name: String, fd: i32) -> Result<String, Error> {
        let mut f = fd_file(fd)?;
        Ok(nogvl(|| export::import_dir(&self.0, &name, &mut *f))
            .rb()?
            .to_json())
    }
}

fn export_dir(config_json: String, rootfs: String, fd: i32) -> Result<(), Error> {
    let cfg = vpsos_core::Config::from_json(&config_json).rb()?;
    let mut f = fd_file(fd)?;
    nogvl(|| export::export_dir(&cfg, Path::new(&rootfs), &mut *f)).rb()
}

pub(crate) fn define(ruby: &Ruby, vpsos: RModule) -> Result<(), Error> {
    vpsos.define_singleton_method("has_feature?", function!(has_feature, 1))?;
    vpsos.define_singleton_method("_export_dir", function!(export_dir, 3))?;
    let r = vpsos.define_class("IdRange", ruby.class_object())?;
    r.define_singleton_method("_open", function!(RIdRange::open, 4))?;
    r.define_method("path", method!(RIdRange::path, 0))?;
    r.define_method("_allocate", method!(RIdRange::allocate, 2))?;
    r.define_method("_allocate_at", method!(RIdRange::allocate_at, 3))?;
    r.define_method("_free", method!(RIdRange::free, 1))?;
    r.define_method("free_owner", method!(RIdRange::free_owner, 1))?;
    r.define_method("_list", method!(RIdRange::list, 0))?;
    let c = vpsos.define_class("Cgroup", ruby.class_object())?;
    c.define_singleton_method("open", function!(RCgroup::open, 1))?;
    c.define_singleton_method("create", function!(RCgroup::create, 1))?;
    c.define_singleton_method("mode", function!(cgroup_mode, 0))?;
    c.define_method("path", method!(RCgroup::path, 0))?;
    c.define_method("exists?", method!(RCgroup::exists, 0))?;
    c.define_method("procs", method!(RCgroup::procs, 0))?;
    c.define_method("attach", method!(RCgroup::attach, 1))?;
    c.define_method("_stats_json", method!(RCgroup::stats_json, 0))?;
    c.define_method("_set_resources", method!(RCgroup::set_resources, 1))?;
    c.define_method("_resources_json", method!(RCgroup::resources_json, 0))?;
    c.define_method("freeze", method!(RCgroup::freeze, 0))?;
    c.define_method("thaw", method!(RCgroup::thaw, 0))?;
    c.define_method("frozen?", method!(RCgroup::is_frozen, 0))?;
    c.define_method("_kill_all", method!(RCgroup::kill_all, 1))?;
    c.define_method("remove", method!(RCgroup::remove, 0))?;
    let a = vpsos.define_module("AppArmor")?;
    a.define_singleton_method("enabled?", function!(aa_enabled, 0))?;
    a.define_singleton_method("loaded?", function!(aa_loaded, 1))?;
    a.define_singleton_method("_load", function!(aa_load, 3))?;
    a.define_singleton_method("_unload", function!(aa_unload, 2))?;
    let d = vpsos.define_class("DirStorage", ruby.class_object())?;
    d.define_singleton_method("new", function!(RDirStorage::new, 1))?;
    d.define_method("path", method!(RDirStorage::path, 1))?;
    d.define_method("list", method!(RDirStorage::list, 0))?;
    d.define_method(
        "create_from_tarball",
        method!(RDirStorage::create_from_tarball, 2),
    )?;
    d.define_method("create_from_dir", method!(RDirStorage::create_from_dir, 2))?;
    d.define_method("_create_from_tar", method!(RDirStorage::create_from_tar, 2))?;
    d.define_method("size", method!(RDirStorage::size, 1))?;
    d.define_method("delete", method!(RDirStorage::delete, 1))?;
    d.define_method("_import", method!(RDirStorage::import, 2))?;
    crate::zfs_net::define(ruby, vpsos)
}
