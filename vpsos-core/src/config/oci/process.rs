//! OCI `process` → [`Process`].

use super::refuse;
use crate::config::{Capabilities, Process, Rlimit, User};
use crate::error::{Error, Result};
use caps::Capability;
use std::str::FromStr;

impl Process {
    /// Import an OCI `process` (as `exec --process <file>` gets one).
    /// Errors name the OCI field (`process.user.username`). An
    /// `apparmorProfile` is refused here: an exec'd process takes the
    /// container's confinement.
    ///
    /// ```
    /// let json = r#"{"user": {"uid": 1000, "gid": 1000, "additionalGids": [27]},
    ///   "args": ["/bin/id"], "env": ["PATH=/bin"], "cwd": "/tmp", "noNewPrivileges": true,
    ///   "capabilities": {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"]},
    ///   "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]}"#;
    /// let oci: oci_spec::runtime::Process = serde_json::from_str(json).unwrap();
    /// let p = vpsos_core::Process::from_oci(&oci)?;
    /// assert_eq!((p.user.uid, p.user.additional_gids.clone()), (1000, vec![27]));
    /// assert_eq!(p.capabilities.unwrap().bounding, [caps::Capability::CAP_CHOWN]);
    /// assert_eq!(p.rlimits[0].resource, "RLIMIT_NOFILE");
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn from_oci(p: &oci_spec::runtime::Process) -> Result<Process> {
        let (process, apparmor) = convert(p)?;
        refuse(
            apparmor.is_some(),
            "process.apparmorProfile",
            "an exec'd process takes the container's AppArmor confinement",
        )?;
        Ok(process)
    }

    /// [`from_oci`](Process::from_oci) for a process to exec into the
    /// container described by `container`: an `apparmorProfile` is
    /// accepted when it is the container's own (podman names it in every
    /// exec), and refused otherwise.
    ///
    /// ```
    /// use vpsos_core::{security::apparmor::AppArmor, Config, Process};
    /// let mut c = Config::builder("/srv/ct").id_maps(vpsos_core::IdMap::single(0, 100000, 65536)).build()?;
    /// c.apparmor = AppArmor::existing("containers-default");
    /// let json = r#"{"cwd": "/", "args": ["sh"], "user": {"uid": 0, "gid": 0},
    ///               "apparmorProfile": "containers-default"}"#;
    /// let oci: oci_spec::runtime::Process = serde_json::from_str(json).unwrap();
    /// assert!(Process::from_oci_for(&oci, &c).is_ok());
    /// c.apparmor = AppArmor::off();
    /// assert!(Process::from_oci_for(&oci, &c).is_err());
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn from_oci_for(
        p: &oci_spec::runtime::Process,
        container: &super::Config,
    ) -> Result<Process> {
        let (process, apparmor) = convert(p)?;
        if let Some(name) = apparmor {
            let own = container.apparmor.profile.as_deref();
            refuse(
                own != Some(name.as_str()),
                "process.apparmorProfile",
                &format!(
                    "an exec'd process takes the container's AppArmor confinement ({}), not {name:?}",
                    own.unwrap_or("none of an existing profile")
                ),
            )?;
        }
        Ok(process)
    }
}

/// The process and its AppArmor profile name, if any.
pub(super) fn convert(p: &oci_spec::runtime::Process) -> Result<(Process, Option<String>)> {
    let u = p.user();
    if u.username().as_deref().is_some_and(|n| !n.is_empty()) {
        return Err(Error::invalid(
            "process.user.username",
            "vpsos takes numeric uid and gid only (username is a Windows field)",
        ));
    }
    refuse(
        p.command_line().is_some(),
        "process.commandLine",
        "a Windows field; use args",
    )?;
    let args = p.args().clone().unwrap_or_default();
    if args.is_empty() {
        return Err(Error::invalid("process.args", "missing or empty"));
    }
    refuse(
        p.selinux_label().as_deref().is_some_and(|l| !l.is_empty()),
        "process.selinuxLabel",
        "this vpsos has no SELinux support",
    )?;
    refuse(
        p.io_priority().is_some(),
        "process.ioPriority",
        "not supported by vpsos",
    )?;
    refuse(
        p.scheduler().is_some(),
        "process.scheduler",
        "not supported by vpsos",
    )?;
    refuse(
        p.exec_cpu_affinity().is_some(),
        "process.execCPUAffinity",
        "not supported by vpsos",
    )?;
    // consoleSize is a hint for the terminal, which the caller sizes
    let mut rlimits = Vec::new();
    for (i, r) in p.rlimits().iter().flatten().enumerate() {
        let rl = Rlimit::new(&r.typ().to_string(), r.soft(), r.hard());
        rl.resource_id()
            .map_err(|e| Error::invalid(format!("process.rlimits[{i}].type"), e.message()))?;
        rlimits.push(rl);
    }
    let capabilities = match p.capabilities() {
        None => None,
        Some(c) => {
            let set = |name: &str, s: &Option<oci_spec::runtime::Capabilities>| {
                let mut v = Vec::new();
                for cap in s.iter().flatten() {
                    let n = format!("CAP_{cap}");
                    let c = Capability::from_str(&n).map_err(|_| {
                        Error::invalid(
                            format!("process.capabilities.{name}"),
                            format!("{n}: unknown to this vpsos"),
                        )
                    })?;
                    v.push(c);
                }
                v.sort_by_key(|c| c.index());
                Ok::<_, crate::Error>(v)
            };
            let permitted = set("permitted", c.permitted())?;
            let inheritable = set("inheritable", c.inheritable())?;
            // the kernel raises an ambient capability only if it is also
            // permitted and inheritable: runc warns and goes on without
            // the others (its own `runc spec` lists ambient capabilities
            // with no inheritable set), and so does this import
            let mut ambient = set("ambient", c.ambient())?;
            ambient.retain(|c| permitted.contains(c) && inheritable.contains(c));
            Some(Capabilities {
                bounding: set("bounding", c.bounding())?,
                effective: set("effective", c.effective())?,
                permitted,
                inheritable,
                ambient,
            })
        }
    };
    let process = Process {
        args,
        env: p.env().clone().unwrap_or_default(),
        cwd: p.cwd().clone(),
        user: User {
            uid: u.uid(),
            gid: u.gid(),
            additional_gids: u.additional_gids().clone().unwrap_or_default(),
        },
        umask: u.umask(),
        rlimits,
        oom_score_adj: p.oom_score_adj(),
        no_new_privileges: p.no_new_privileges().unwrap_or(false),
        capabilities,
        terminal: p.terminal().unwrap_or(false),
    };
    crate::config::validate::process("process", &process, None, None).map_err(|e| {
        // vpsos's spelling of a field → OCI's
        let oci = match e.field() {
            Some("process.umask") => "process.user.umask",
            Some("process.oom_score_adj") => "process.oomScoreAdj",
            Some("process.user.additional_gids") => "process.user.additionalGids",
            _ => return e,
        };
        Error::invalid(oci, e.message())
    })?;
    let apparmor = p.apparmor_profile().clone().filter(|s| !s.is_empty());
    Ok((process, apparmor))
}
