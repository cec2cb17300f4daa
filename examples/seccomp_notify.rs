//! A seccomp supervisor: the container's `mkdir` calls are notified to this
//! process, which lets those under /tmp run and refuses the others with
//! EACCES, reading each path out of the caller's memory.
//!
//! Run as root: `cargo run --example seccomp_notify`
use std::io::Read;
use vpsos::security::seccomp::{Action, Notification, Profile, SyscallRule};
use vpsos::{busybox, Config, CreateOptions, IdMap, Process, Runtime};

/// The NUL-terminated string at `addr` in process `pid`.
fn read_path(pid: u32, addr: u64) -> std::io::Result<String> {
    use std::io::{Seek, SeekFrom};
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem"))?;
    mem.seek(SeekFrom::Start(addr))?;
    let mut buf = vec![0u8; 4096];
    let n = mem.read(&mut buf)?;
    let end = buf[..n].iter().position(|b| *b == 0).unwrap_or(n);
    Ok(String::from_utf8_lossy(&buf[..end]).into_owned())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rootfs = busybox::build_rootfs("/var/tmp/vpsos-example/notify-rootfs", 200_000, 200_000)?;
    let profile =
        Profile::system_container().rule(SyscallRule::new(["mkdir", "mkdirat"], Action::Notify));
    let config = Config::builder(&rootfs)
        .id_maps(IdMap::single(0, 200_000, 65_536))
        .seccomp(Some(profile))
        .init(Process::new([
            "/bin/sh",
            "-c",
            "mkdir /tmp/scratch && echo 'inside: made /tmp/scratch'; \
             mkdir /etc/evil || echo 'inside: /etc/evil refused'",
        ]))
        .build()?;
    let rt = Runtime::with_root("/run/vpsos-example");
    let ct = rt.create("notify-demo", &config, CreateOptions::default())?;
    let listener = ct
        .take_seccomp_listener()
        .expect("the profile has a Notify rule");
    let supervisor = std::thread::spawn(move || {
        for _ in 0..2 {
            let n = Notification::receive(&listener)?;
            // mkdir(path, mode) or mkdirat(dirfd, path, mode)
            let addr = if n.syscall as libc::c_long == libc::SYS_mkdirat {
                n.args[1]
            } else {
                n.args[0]
            };
            let path = read_path(n.pid, addr).unwrap_or_default();
            if path.starts_with("/tmp/") {
                println!("supervisor: pid {} mkdir {path:?}: allowed", n.pid);
                n.allow(&listener)?;
            } else {
                println!("supervisor: pid {} mkdir {path:?}: EACCES", n.pid);
                n.fail(&listener, libc::EACCES)?;
            }
        }
        Ok::<(), vpsos::Error>(())
    });
    ct.start()?;
    let status = ct.wait()?;
    supervisor.join().expect("supervisor thread")?;
    println!("exit: {status:?}");
    ct.delete()?;
    Ok(())
}
