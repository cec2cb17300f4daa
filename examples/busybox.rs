//! The main job: start a busybox system container with an id map on plain
//! directory storage and print what it sees inside.
//!
//! Run as root: `cargo run --example busybox`
use std::time::Instant;
use vpsos::{busybox, Config, CreateOptions, IdMap, Process, Runtime, Stdio};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let map = IdMap::single(0, 200_000, 65_536);
    let rootfs = busybox::build_rootfs("/var/tmp/vpsos-example/rootfs", 200_000, 200_000)?;
    let config = Config::builder(&rootfs)
        .hostname("vpsos-demo")
        .id_maps(map)
        .init(Process::new([
            "/bin/sh",
            "-c",
            "echo \"PID inside:  $$\"; echo \"hostname:    $(hostname)\"; \
             echo \"uid_map:     $(cat /proc/self/uid_map | tr -s ' ')\"; \
             echo \"uptime:      $(cut -d' ' -f1 /proc/uptime) s\"; \
             echo \"processes:   $(ls -d /proc/[0-9]* | wc -l) visible\"",
        ]))
        .build()?;
    let rt = Runtime::with_root("/run/vpsos-example");
    let t = Instant::now();
    // the init's stdout is this terminal (the default would be /dev/null)
    let opts = CreateOptions {
        stdout: Stdio::Inherit,
        ..CreateOptions::default()
    };
    let ct = rt.run("demo", &config, opts)?;
    let status = ct.wait()?;
    println!("exit:        {status:?} after {:?}", t.elapsed());
    ct.delete()?;
    Ok(())
}
