"""Start→exit latency of /bin/true from Python (create + start + wait +
delete, benches/start_latency.rs's workload). Driven by benches/python.sh:
    .venv/bin/python bench/start_latency.py CONFIG.json RUNS
prints "python_median_ms=<m>"."""

from __future__ import annotations

import sys
import time

import vpsos


def main() -> None:
    config = vpsos.Config(open(sys.argv[1]).read())
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    rt = vpsos.Runtime("/run/vpsos-bench")

    def one(tag: str, i: int) -> float:
        t = time.monotonic()
        ct = rt.run(f"py{tag}{i}", config)
        x = ct.wait()
        ct.delete()
        assert x is not None and x.success, x
        return time.monotonic() - t

    for i in range(10):
        one("w", i)
    times = sorted(one("m", i) for i in range(runs))
    print(f"python_median_ms={times[len(times) // 2] * 1000:.3f}")


if __name__ == "__main__":
    main()
