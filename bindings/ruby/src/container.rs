//! `Vpsos::Container` and `Vpsos::Process`: the native methods that
//! lib/vpsos/container.rb wraps in Ruby's idiom.

use crate::gvl::nogvl;
use crate::runtime::options;
use crate::{from_json, to_json, RbResult};
use magnus::{method, prelude::*, Error, RModule, RString, Ruby, Symbol};
use std::os::fd::IntoRawFd;
use std::time::Duration;
use vpsos_core::config::{DeviceRule, Interface, Resources};
use vpsos_core::{Container, EndReason, ExecProcess, ExitStatus, InitExit, Mount, Process};

#[magnus::wrap(class = "Vpsos::Container", free_immediately, size)]
pub(crate) struct RContainer(pub(crate) Container);

#[magnus::wrap(class = "Vpsos::Process", free_immediately, size)]
pub(crate) struct RProcess(ExecProcess);

/// How a process ended: `[kind, value, reason]` (`:exited`/`:signaled`/
/// `:unknown`, the code or signal, `:reboot`/`:halt`/`:exit`/`:killed`/`:unknown`).
type Exit = (Symbol, Option<i32>, Symbol);

fn status(s: Option<ExitStatus>) -> (Symbol, Option<i32>) {
    match s {
        Some(ExitStatus::Exited(c)) => (Symbol::new("exited"), Some(c)),
        Some(ExitStatus::Signaled(n)) => (Symbol::new("signaled"), Some(n)),
        None => (Symbol::new("unknown"), None),
    }
}

fn init_exit(x: InitExit) -> Exit {
    let (k, v) = status(x.status());
    let r = match x.reason() {
        EndReason::Reboot => "reboot",
        EndReason::Halt => "halt",
        EndReason::Exit(_) => "exit",
        EndReason::Killed(_) => "killed",
        _ => "unknown",
    };
    (k, v, Symbol::new(r))
}

fn proc_exit(s: ExitStatus) -> Exit {
    let (k, v) = status(Some(s));
    let r = if matches!(s, ExitStatus::Exited(_)) {
        "exit"
    } else {
        "killed"
    };
    (k, v, Symbol::new(r))
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

impl RContainer {
    fn id(&self) -> String {
        self.0.id().to_string()
    }

    fn pid(&self) -> Option<i32> {
        self.0.state().ok().and_then(|s| s.pid)
    }

    fn state_json(&self) -> Result<String, Error> {
        Ok(to_json(&self.0.state().rb()?))
    }

    fn config_json(&self) -> Result<String, Error> {
        Ok(self.0.config().rb()?.to_json())
    }

    fn start(&self) -> Result<(), Error> {
        nogvl(|| self.0.start()).rb()
    }

    fn pidfd(&self) -> Result<i32, Error> {
        Ok(self.0.pidfd().rb()?.into_raw_fd())
    }

    fn try_wait(&self) -> Result<Option<Exit>, Error> {
        Ok(self.0.try_wait().rb()?.map(init_exit))
    }

    fn wait_timeout(&self, s: f64) -> Result<Option<Exit>, Error> {
        Ok(nogvl(|| self.0.wait_timeout(secs(s))).rb()?.map(init_exit))
    }

    fn kill(&self, sig: i32) -> Result<(), Error> {
        self.0.kill(sig).rb()
    }

    fn stop(&self, timeout: f64) -> Result<(Symbol, Option<i32>, Symbol, bool), Error> {
        let o = nogvl(|| self.0.stop(secs(timeout))).rb()?;
        let (k, v, r) = init_exit(o.exit);
        Ok((k, v, r, o.killed))
    }

    fn delete(&self, force: bool) -> Result<(), Error> {
        nogvl(|| {
            if force {
                self.0.delete_force()
            } else {
                self.0.delete()
            }
        })
        .rb()
    }

    fn exec(&self, json: String, i: i32, o: i32, e: i32) -> Result<RProcess, Error> {
        let p: Process = from_json(&json, "process")?;
        let opts = options(i, o, e)?;
        Ok(RProcess(nogvl(|| self.0.exec(&p, opts)).rb()?))
    }

    fn attach_console(&self) -> Result<i32, Error> {
        Ok(nogvl(|| self.0.attach_console()).rb()?.into_raw_fd())
    }

    fn attach_tty(&self, n: u32) -> Result<i32, Error> {
        Ok(nogvl(|| self.0.attach_tty(n)).rb()?.into_raw_fd())
    }

    fn resize_terminal(&self, n: u32, rows: u16, cols: u16) -> Result<(), Error> {
        self.0.resize_terminal(n, rows, cols).rb()
    }

    fn console_log(&self) -> Result<RString, Error> {
        Ok(RString::from_slice(&self.0.console_log().rb()?))
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

    fn stats_json(&self) -> Result<String, Error> {
        Ok(to_json(&self.0.stats().rb()?))
    }

    fn update_resources(&self, json: String) -> Result<(), Error> {
        let r: Resources = from_json(&json, "resources")?;
        nogvl(|| self.0.update_resources(&r)).rb()
    }

    fn resources_json(&self) -> Result<String, Error> {
        Ok(to_json(&self.0.resources().rb()?))
    }

    fn grant_device(&self, json: String) -> Result<(), Error> {
        let r: DeviceRule = from_json(&json, "device")?;
        nogvl(|| self.0.grant_device(r)).rb()
    }

    fn revoke_device(&self, json: String) -> Result<(), Error> {
        let r: DeviceRule = from_json(&json, "device")?;
        nogvl(|| self.0.revoke_device(&r)).rb()
    }

    fn devices_json(&self) -> Result<String, Error> {
        Ok(to_json(&self.0.devices().rb()?))
    }

    fn add_interface(&self, json: String) -> Result<(), Error> {
        let i: Interface = from_json(&json, "interface")?;
        nogvl(|| self.0.add_interface(i)).rb()
    }

    fn remove_interface(&self, name: String) -> Result<(), Error> {
        nogvl(|| self.0.remove_interface(&name)).rb()
    }

    fn set_interface_rates(
        &self,
        name: String,
        rx: Option<u64>,
        tx: Option<u64>,
    ) -> Result<(), Error> {
        nogvl(|| self.0.set_interface_rates(&name, rx, tx)).rb()
    }

    fn host_interfaces(&self) -> Result<Vec<String>, Error> {
        self.0.host_interfaces().rb()
    }

    fn mount(&self, json: String) -> Result<(), Error> {
        let m: Mount = from_json(&json, "mount")?;
        nogvl(|| self.0.mount(&m)).rb()
    }

    fn unmount(&self, dest: String) -> Result<(), Error> {
        nogvl(|| self.0.unmount(&dest)).rb()
    }
}

impl RProcess {
    fn pid(&self) -> i32 {
        self.0.pid()
    }

    fn pidfd(&self) -> Result<i32, Error> {
        Ok(self.0.pidfd().rb()?.into_raw_fd())
    }

    fn try_wait(&self) -> Result<Option<Exit>, Error> {
        Ok(self.0.try_wait().rb()?.map(proc_exit))
    }

    fn wait_timeout(&self, s: f64) -> Result<Option<Exit>, Error> {
        Ok(nogvl(|| self.0.wait_timeout(secs(s))).rb()?.map(proc_exit))
    }

    fn kill(&self, sig: i32) -> Result<(), Error> {
        self.0.kill(sig).rb()
    }

    fn console(&self) -> Option<i32> {
        self.0.take_console().map(IntoRawFd::into_raw_fd)
    }
}

pub(crate) fn define(ruby: &Ruby, vpsos: RModule) -> Result<(), Error> {
    let c = vpsos.define_class("Container", ruby.class_object())?;
    c.define_method("id", method!(RContainer::id, 0))?;
    c.define_method("pid", method!(RContainer::pid, 0))?;
    c.define_method("_state_json", method!(RContainer::state_json, 0))?;
    c.define_method("_config_json", method!(RContainer::config_json, 0))?;
    c.define_method("start", method!(RContainer::start, 0))?;
    c.define_method("_pidfd", method!(RContainer::pidfd, 0))?;
    c.define_method("_try_wait", method!(RContainer::try_wait, 0))?;
    c.define_method("_wait_timeout", method!(RContainer::wait_timeout, 1))?;
    c.define_method("_kill", method!(RContainer::kill, 1))?;
    c.define_method("_stop", method!(RContainer::stop, 1))?;
    c.define_method("_delete", method!(RContainer::delete, 1))?;
    c.define_method("_exec", method!(RContainer::exec, 4))?;
    c.define_method("_attach_console", method!(RContainer::attach_console, 0))?;
    c.define_method("_attach_tty", method!(RContainer::attach_tty, 1))?;
    c.define_method("resize_terminal", method!(RContainer::resize_terminal, 3))?;
    c.define_method("console_log", method!(RContainer::console_log, 0))?;
    c.define_method("freeze", method!(RContainer::freeze, 0))?;
    c.define_method("thaw", method!(RContainer::thaw, 0))?;
    c.define_method("frozen?", method!(RContainer::is_frozen, 0))?;
    c.define_method("_stats_json", method!(RContainer::stats_json, 0))?;
    c.define_method(
        "_update_resources",
        method!(RContainer::update_resources, 1),
    )?;
    c.define_method("_resources_json", method!(RContainer::resources_json, 0))?;
    c.define_method("_grant_device", method!(RContainer::grant_device, 1))?;
    c.define_method("_revoke_device", method!(RContainer::revoke_device, 1))?;
    c.define_method("_devices_json", method!(RContainer::devices_json, 0))?;
    c.define_method("_add_interface", method!(RContainer::add_interface, 1))?;
    c.define_method("remove_interface", method!(RContainer::remove_interface, 1))?;
    c.define_method(
        "_set_interface_rates",
        method!(RContainer::set_interface_rates, 3),
    )?;
    c.define_method("host_interfaces", method!(RContainer::host_interfaces, 0))?;
    c.define_method("_mount", method!(RContainer::mount, 1))?;
    c.define_method("unmount", method!(RContainer::unmount, 1))?;
    let p = vpsos.define_class("Process", ruby.class_object())?;
    p.define_method("pid", method!(RProcess::pid, 0))?;
    p.define_method("_pidfd", method!(RProcess::pidfd, 0))?;
    p.define_method("_try_wait", method!(RProcess::try_wait, 0))?;
    p.define_method("_wait_timeout", method!(RProcess::wait_timeout, 1))?;
    p.define_method("_kill", method!(RProcess::kill, 1))?;
    p.define_method("_console", method!(RProcess::console, 0))?;
    Ok(())
}
