#!/usr/bin/env python3
"""Boot Debian 12 with systemd in a container, wait until it runs, exec a
command, print stats and halt it.

    bindings/python/.venv/bin/python examples/python/boot_debian.py [TREE]

(as root; TREE defaults to the cached test image that
tests/images/build-debian.sh builds). The tree stays owned by 0 on disk:
it is copied once into directory storage and mounted idmapped.
"""

from __future__ import annotations

import os
import sys
import time

import vpsos


def sh(ct: vpsos.Container, script: str) -> str:
    r, w = os.pipe()
    p = ct.exec("sh", "-c", script, stdout=w, stderr=w)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read().decode()
    p.wait()
    return out


def main() -> int:
    tree = sys.argv[1] if len(sys.argv) > 1 else "/var/cache/vpsos-images/debian12-systemd"
    storage = vpsos.DirStorage("/var/lib/vpsos-python-example")
    name = f"debian-{os.getpid()}"
    rootfs = storage.create_from_dir(name, tree)
    config = vpsos.Config(
        {
            "rootfs": rootfs,
            "idmapped_rootfs": True,
            "hostname": "py-debian",
            "namespaces": {n: "new" for n in ("user", "mount", "pid", "uts", "ipc", "network", "cgroup")},
            "uid_map": "0:1000000:65536",
            "gid_map": "0:1000000:65536",
            "process": {"args": ["/sbin/init"]},
        }
    )
    rt = vpsos.Runtime("/run/vpsos-python-example")
    try:
        started = time.monotonic()
        with rt.run(name, config) as ct:
            state = ""
            while state not in ("running", "degraded") and time.monotonic() - started < 120:
                state = sh(ct, "systemctl is-system-running 2>/dev/null").strip()
                time.sleep(0.05)
            print(f"systemd    {state} after {time.monotonic() - started:.2f} s")
            print(f"exec       {sh(ct, 'echo $(hostname) runs $(cat /proc/1/comm) as PID 1').strip()}")
            s = ct.stats()
            print(f"stats      {s.memory_current >> 20} MiB, {s.pids_current} tasks, {s.cpu_usage_usec // 1000} ms CPU")
            how = ct.stop(60)
            print(f"stopped    {how.reason} (killed: {how.killed})")
    finally:
        storage.delete(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
