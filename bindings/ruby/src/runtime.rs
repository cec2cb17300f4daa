//! `Vpsos::Runtime`: create, run, load, list and recover containers.

use crate::container::RContainer;
use crate::gvl::nogvl;
use crate::{to_json, RbResult};
use magnus::{function, method, prelude::*, Error, RModule, Ruby};
use std::os::fd::BorrowedFd;
use vpsos_core::{Config, CreateOptions, Runtime, Stdio};

#[magnus::wrap(class = "Vpsos::Runtime", free_immediately, size)]
pub(crate) struct RRuntime(Runtime);

/// -1: /dev/null, -2: the caller's own, else an fd to duplicate.
pub(crate) fn stdio(fd: i32) -> Result<Stdio, Error> {
    match fd {
        -1 => Ok(Stdio::Null),
        -2 => Ok(Stdio::Inherit),
        fd if fd >= 0 => {
            // SAFETY: Ruby's IO keeps the fd open for the call
            let b = unsafe { BorrowedFd::borrow_raw(fd) };
            b.try_clone_to_owned().map(Stdio::Fd).map_err(|e| {
                crate::rb_err(vpsos_core::Error::from_errno(
                    e.raw_os_error().unwrap_or(libc::EBADF),
                    format!("duplicating fd {fd}"),
                ))
            })
        }
        _ => Err(crate::arg_err(format!("not an fd: {fd}"))),
    }
}

pub(crate) fn options(i: i32, o: i32, e: i32) -> Result<CreateOptions, Error> {
    Ok(CreateOptions {
        stdin: stdio(i)?,
        stdout: stdio(o)?,
        stderr: stdio(e)?,
        ..Default::default()
    })
}

/// The config from JSON, validated; its canonical JSON (every field).
fn config_normalize(json: String) -> Result<String, Error> {
    let c = Config::from_json(&json).rb()?;
    c.validate().rb()?;
    Ok(c.to_json())
}

impl RRuntime {
    fn new(root: Option<String>) -> Result<RRuntime, Error> {
        match root {
            Some(r) if !r.starts_with('/') => Err(crate::rb_err(vpsos_core::Error::invalid(
                "root",
                "is not an absolute path",
            ))),
            Some(r) => Ok(RRuntime(Runtime::with_root(r))),
            None => Ok(RRuntime(Runtime::new())),
        }
    }

    fn root(&self) -> String {
        self.0.root().to_string_lossy().into_owned()
    }

    fn create(
        &self,
        id: String,
        json: String,
        i: i32,
        o: i32,
        e: i32,
        run: bool,
    ) -> Result<RContainer, Error> {
        let cfg: Config = Config::from_json(&json).rb()?;
        let opts = options(i, o, e)?;
        let ct = nogvl(|| {
            if run {
                self.0.run(&id, &cfg, opts)
            } else {
                self.0.create(&id, &cfg, opts)
            }
        })
        .rb()?;
        Ok(RContainer(ct))
    }

    fn load(&self, id: String) -> Result<RContainer, Error> {
        Ok(RContainer(self.0.load(&id).rb()?))
    }

    fn ids(&self) -> Result<Vec<String>, Error> {
        self.0.ids().rb()
    }

    fn list(&self) -> Result<String, Error> {
        Ok(to_json(&self.0.list().rb()?))
    }

    fn recover(&self, id: String) -> Result<String, Error> {
        Ok(to_json(&nogvl(|| self.0.recover(&id)).rb()?))
    }

    fn recover_all(&self) -> Result<String, Error> {
        Ok(to_json(&nogvl(|| self.0.recover_all()).rb()?))
    }

    fn orphaned_interfaces(&self, remove: bool) -> Result<Vec<String>, Error> {
        if remove {
            nogvl(|| self.0.remove_orphaned_interfaces()).rb()
        } else {
            Ok(self
                .0
                .orphaned_interfaces()
                .rb()?
                .into_iter()
                .map(|l| l.name)
                .collect())
        }
    }
}

pub(crate) fn define(ruby: &Ruby, vpsos: RModule) -> Result<(), Error> {
    vpsos.define_singleton_method("_config_normalize", function!(config_normalize, 1))?;
    let c = vpsos.define_class("Runtime", ruby.class_object())?;
    c.define_singleton_method("_new", function!(RRuntime::new, 1))?;
    c.define_method("root", method!(RRuntime::root, 0))?;
    c.define_method("_create", method!(RRuntime::create, 6))?;
    c.define_method("load", method!(RRuntime::load, 1))?;
    c.define_method("ids", method!(RRuntime::ids, 0))?;
    c.define_method("_list", method!(RRuntime::list, 0))?;
    c.define_method("_recover", method!(RRuntime::recover, 1))?;
    c.define_method("_recover_all", method!(RRuntime::recover_all, 0))?;
    c.define_method(
        "_orphaned_interfaces",
        method!(RRuntime::orphaned_interfaces, 1),
    )?;
    Ok(())
}
