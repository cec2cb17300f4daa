//! Why a container process failed to start: its own report (stage,
//! step, errno, and the object the step names), or, when it vanished
//! without one, what the host can tell (the OOM killer).

use super::sync::{self, Msg, Phase, Step};
use crate::cgroup::Cgroup;
use crate::error::{Error, ErrorKind, Stage};
use crate::plan::ChildPlan;
use std::os::fd::{AsRawFd, OwnedFd};

/// `e`, or, when the OOM killer struck in `cg` during the setup (the
/// process vanished: the sync socket reset or ended without a report),
/// an error that says so and names the memory limit.
pub(super) fn oom_during_setup(cg: &Cgroup, e: Error) -> Error {
    let vanished = matches!(e.kind(), ErrorKind::Io | ErrorKind::Child)
        && e.stage()
            .is_none_or(|s| s == Stage::Sync || s == Stage::Exec);
    if !vanished || cg.stats().map_or(true, |s| s.oom_kills == 0) {
        return e;
    }
    let limit = cg
        .resources()
        .ok()
        .and_then(|r| r.memory.max)
        .map_or("its memory limit".to_string(), |m| {
            format!("its memory limit ({m} bytes)")
        });
    Error::new(
        ErrorKind::Child,
        format!(
            "the container's process was killed by the OOM killer during setup: \
             {limit} is too low to start it (resources.memory.max)"
        ),
    )
    .with_source(e)
}

/// The error a failure report after `Ready` stands for (only exec and
/// the fifo can fail then).
pub(crate) fn report_error(m: &Msg, argv0: &str) -> Error {
    let stage = Stage::from_code(m.stage).unwrap_or(Stage::Sync);
    let step = Step::from_u32(m.step);
    let detail = match step {
        Some(Step::Exec) => argv0.to_string(),
        Some(s) => s.name().to_string(),
        None => String::new(),
    };
    Error::child(stage, &detail, m.errno)
}

/// A failure report the child left on the socket, without waiting.
pub(super) fn pending_report(fd: &OwnedFd, plan: &ChildPlan) -> Option<Error> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no wait.
    if unsafe { libc::poll(&mut p, 1, 0) } != 1 {
        return None;
    }
    match sync::recv(fd.as_raw_fd()) {
        Ok(Some(m)) if m.is(Phase::Error) => Some(child_error(&m, plan)),
        _ => None,
    }
}

/// The error behind a child's report, with the object it names.
pub(super) fn child_error(m: &Msg, plan: &ChildPlan) -> Error {
    if !m.is(Phase::Error) {
        return Error::new(
            ErrorKind::Io,
            format!("sync protocol: unexpected message {}", m.kind),
        );
    }
    let stage = Stage::from_code(m.stage).unwrap_or(Stage::Sync);
    let Some(step) = Step::from_u32(m.step) else {
        return Error::child(stage, "", m.errno);
    };
    let i = m.index as usize;
    let rootfs = plan.rootfs.as_ref();
    let detail = match step {
        Step::Mount => rootfs.map(|r| r.mount_label(i).to_string()),
        Step::Setns => crate::config::NamespaceKind::ALL
            .iter()
            .find(|k| k.clone_flag() as u32 == m.index)
            .map(|k| format!("setns {}", k.proc_name())),
        Step::Exec => plan
            .process
            .argv
            .first()
            .map(|a| a.to_string_lossy().into_owned()),
        Step::Mask => rootfs
            .and_then(|r| r.masked.get(i))
            .map(|p| format!("masking /{}", p.to_string_lossy())),
        Step::ReadonlyPath => rootfs
            .and_then(|r| r.readonly.get(i))
            .map(|p| format!("read-only remount of /{}", p.to_string_lossy())),
        Step::WritablePath => rootfs
            .and_then(|r| r.writable.get(i))
            .map(|p| format!("keeping /{} writable", p.to_string_lossy())),
        Step::DropBounding | Step::RaiseAmbient => caps::all()
            .into_iter()
            .find(|c| c.index() as usize == i)
            .map(|c| format!("{} {c}", step.name())),
        Step::AppArmorExec => plan
            .process
            .apparmor_exec
            .as_ref()
            .map(|l| format!("writing the AppArmor label ({})", l.to_string_lossy())),
        Step::Sysctl => plan
            .sysctl
            .get(i)
            .map(|(f, _)| format!("writing {}", f.to_string_lossy())),
        Step::BindTerminal => Some(if i == 0 {
            "binding /dev/console".to_string()
        } else {
            format!("binding /dev/tty{i}")
        }),
        _ => None,
    };
    Error::child(
        stage,
        &detail.unwrap_or_else(|| step.name().to_string()),
        m.errno,
    )
}
