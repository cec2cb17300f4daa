//! The command line: runc's global flags and subcommands (long flags as
//! runc spells them; go-runc, conmon and podman use these).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// An OCI container runtime over vpsos, with runc's command line.
#[derive(Debug, Parser)]
#[command(name = "vpsos", version = concat!("version ", env!("CARGO_PKG_VERSION"), "\nspec: 1.0.2"))]
pub struct Cli {
    /// Where container state is kept.
    #[arg(long, global = true, default_value = "/run/vpsos")]
    pub root: PathBuf,
    /// Log file (errors, and more with --debug).
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// `text` or `json`.
    #[arg(long = "log-format", global = true, default_value = "text")]
    pub log_format: String,
    /// Log debug messages.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use systemd's cgroup manager (refused: vpsos manages cgroupfs).
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility (vpsos decides by the config).
    #[arg(long, value_name = "true|false|auto")]
    pub rootless: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// What `create` and `run` share.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The container's id.
    pub id: String,
    /// The bundle directory (config.json and usually the rootfs).
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// A unix socket to send the terminal's master to (SCM_RIGHTS).
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Write the init's host pid here.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Accepted: vpsos bind-mounts the rootfs first, so pivot_root works
    /// on any filesystem.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Accepted: each container gets a session keyring of its own anyway.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass this many fds after stdio (3, 4, ...) to the container.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
}

/// `run`'s own flags.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Return once the container runs.
    #[arg(short, long)]
    pub detach: bool,
    /// Keep the container after it exits.
    #[arg(long)]
    pub keep: bool,
}

/// `exec`'s flags.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The container's id.
    pub id: String,
    /// The command (unless --process).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
    /// An OCI process JSON file (`-` for stdin).
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Give the process a terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// A unix socket to send the terminal's master to.
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Write the process's host pid here.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Return once the process runs.
    #[arg(short, long)]
    pub detach: bool,
    /// Working directory.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable (KEY=value).
    #[arg(short, long)]
    pub env: Vec<String>,
    /// uid[:gid].
    #[arg(short, long)]
    pub user: Option<String>,
    /// Additional gids.
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// Add a capability (CAP_NET_ADMIN or NET_ADMIN).
    #[arg(short, long)]
    pub cap: Vec<String>,
    /// Set no_new_privs.
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Pass this many fds after stdio to the process.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Accepted for runc compatibility.
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// AppArmor profile (refused: it is the container's).
    #[arg(long)]
    pub apparmor: Option<String>,
    /// SELinux label (refused: no SELinux).
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
}

/// `update`'s flags (cgroup limits of a running container).
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The container's id.
    pub id: String,
    /// An OCI `linux.resources` JSON file (`-` for stdin).
    #[arg(short, long)]
    pub resources: Option<PathBuf>,
    /// Memory limit in bytes (k/m/g suffixes).
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Memory + swap limit (-1: unlimited).
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<String>,
    /// Memory soft limit.
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// CPU shares (relative weight).
    #[arg(long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// CPU CFS quota in µs (-1: none).
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU CFS period in µs.
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPUs allowed (0-3,5).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes allowed.
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Maximum number of tasks (-1 or 0: unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO weight (10-1000).
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container from a bundle; its process waits for `start`.
    Create(CreateArgs),
    /// Create and start a container (and wait for it, unless --detach).
    Run(RunArgs),
    /// Let a created container's process run.
    Start {
        /// The container's id.
        id: String,
    },
    /// Print a container's OCI state as JSON.
    State {
        /// The container's id.
        id: String,
    },
    /// List containers.
    #[command(alias = "ls")]
    List {
        /// `table` or `json`.
        #[arg(short, long, default_value = "table")]
        format: String,
        /// Only the ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Send a signal to the container's init (or, with --all, every process).
    Kill {
        /// Every process of the container.
        #[arg(short, long)]
        all: bool,
        /// The container's id.
        id: String,
        /// Signal name or number (default SIGTERM).
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete a container (--force: kill it first).
    Delete {
        /// Kill it if it still runs.
        #[arg(short, long)]
        force: bool,
        /// The container's id.
        id: String,
    },
    /// Freeze every process of the container.
    Pause {
        /// The container's id.
        id: String,
    },
    /// Thaw a paused container.
    Resume {
        /// The container's id.
        id: String,
    },
    /// Run a process in a running container.
    Exec(ExecArgs),
    /// Show the container's processes.
    Ps {
        /// `table` or `json` (an array of host pids).
        #[arg(short, long, default_value = "table")]
        format: String,
        /// The container's id.
        id: String,
        /// Arguments for ps(1) (table format).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Change a running container's resource limits.
    Update(UpdateArgs),
    /// Print the container's resource usage (--stats: once) as JSON events.
    Events {
        /// The container's id.
        id: String,
        /// One stats event, then exit.
        #[arg(long)]
        stats: bool,
        /// Interval between stats events (e.g. 5s, 500ms).
        #[arg(long, default_value = "5s")]
        interval: String,
    },
    /// Print the OCI features document: what this runtime supports.
    Features,
    /// Write a starter config.json.
    Spec {
        /// Where to write it.
        #[arg(short, long)]
        bundle: Option<PathBuf>,
        /// A config for an unprivileged user (user namespace with the
        /// caller's ids).
        #[arg(long = "rootless")]
        rootless: bool,
    },
}
