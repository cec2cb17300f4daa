//! `vpsos`: an OCI runtime with runc's command line, over the vpsos
//! library, so that containerd (through its runc shim) and podman
//! (through conmon) can drive vpsos as they drive runc.
//!
//! Each container's init (and each process `exec` starts) is re-parented
//! to the caller's child subreaper (conmon, the shim), which reaps it, as
//! runc's are; see [`vpsos_core::Reaper::Subreaper`]. Errors go to stderr
//! and, with `--log`, to the log file (`--log-format json`: one JSON
//! object per line, as go-runc and conmon read them); the exit code is 1.

mod cli;
mod console;
mod create;
mod exec;
mod info;
mod log;
mod manage;
mod reap;
mod signals;
mod state;

use clap::Parser;
use cli::{Cli, Command};

fn main() {
    let cli = Cli::parse();
    let log = log::Log::open(&cli);
    if cli.debug {
        log.debug(&format!("{:?}", std::env::args().collect::<Vec<_>>()));
    }
    let code = match run(&cli, &log) {
        Ok(code) => code,
        Err(e) => {
            log.error(&e);
            eprintln!("vpsos: {e}");
            1
        }
    };
    std::process::exit(code);
}

/// A library error as a message, with runc's words where podman reads
/// them: a program that cannot be found or run at create says `no such
/// file or directory` / `permission denied` (podman's exit codes 127 and
/// 126 hang on them).
pub fn describe(e: vpsos_core::Error) -> String {
    let runc_words = match (e.stage(), e.errno()) {
        (Some(vpsos_core::Stage::Exec), Some(libc::ENOENT)) => Some("no such file or directory"),
        (Some(vpsos_core::Stage::Exec), Some(libc::EACCES)) => Some("permission denied"),
        _ => None,
    };
    match runc_words {
        Some(w) => format!("{e}: exec: {w}"),
        None => e.to_string(),
    }
}

fn run(cli: &Cli, log: &log::Log) -> Result<i32, String> {
    if cli.systemd_cgroup {
        return Err(
            "--systemd-cgroup is not supported: vpsos manages cgroupfs paths itself \
                    (podman: --cgroup-manager=cgroupfs; containerd: SystemdCgroup = false)"
                .into(),
        );
    }
    let rt = vpsos_core::Runtime::with_root(&cli.root);
    let done = |r: vpsos_core::Result<()>| r.map(|_| 0).map_err(crate::describe);
    match &cli.command {
        Command::Create(a) => create::create(&rt, a, log),
        Command::Run(a) => create::run(&rt, a, log),
        Command::Start { id } => done(rt.load(id).and_then(|c| c.start())),
        Command::State { id } => state::print_state(&rt, id),
        Command::List { format, quiet } => state::list(&rt, format, *quiet),
        Command::Kill { all, id, signal } => manage::kill(&rt, id, signal, *all),
        Command::Delete { force, id } => manage::delete(&rt, id, *force),
        Command::Pause { id } => done(rt.load(id).and_then(|c| manage::pause(&c))),
        Command::Resume { id } => done(rt.load(id).and_then(|c| manage::resume(&c))),
        Command::Exec(a) => exec::exec(&rt, a, log),
        Command::Ps {
            format,
            id,
            ps_args,
        } => info::ps(&rt, id, format, ps_args),
        Command::Update(a) => manage::update(&rt, a),
        Command::Events {
            id,
            stats,
            interval,
        } => info::events(&rt, id, *stats, interval),
        Command::Features => info::features(),
        Command::Spec { bundle, rootless } => info::spec(bundle.as_deref(), *rootless),
    }
}
