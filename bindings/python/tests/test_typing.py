"""Static typing: the examples and a typed program using the API pass
``mypy --strict``, and stubtest finds python/vpsos/_native.pyi true to
the built module."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import textwrap

import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples", "python")


def mypy(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    # sys.executable is the venv's python (run-tests.sh runs pytest with it)
    return subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", os.devnull, *args],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def test_examples_pass_mypy_strict():
    examples = sorted(glob.glob(os.path.join(EXAMPLES, "*.py")))
    if not os.path.isdir(EXAMPLES):
        pytest.skip("no examples/python directory")
    assert examples, f"no examples in {EXAMPLES}"
    r = mypy("--strict", *examples)
    assert r.returncode == 0, r.stdout + r.stderr


SNIPPET = '''
import asyncio
import os
from typing import Any

import vpsos


def run_one(rt: vpsos.Runtime, id: str, rootfs: str) -> tuple[bytes, vpsos.Exit | None]:
    cfg = vpsos.Config({"rootfs": rootfs, "process": {"args": ["/bin/sh"]}})
    cfg = cfg.merge({"hostname": "typed"})
    d: dict[str, Any] = cfg.to_dict()
    assert isinstance(d["hostname"], str)
    with rt.run(id, cfg) as ct:
        r, w = os.pipe()
        p: vpsos.Process = ct.exec("echo", "hi", env={"A": "b"}, cwd="/", user=(1, 1), stdout=w)
        os.close(w)
        out = os.read(r, 100)
        ex: vpsos.Exit | None = p.wait(timeout=1.5)
        st: vpsos.Stats = ct.stats()
        n: int = st.pids_current
        res: dict[str, Any] = ct.resources()
        ct.update_resources({"pids": {"max": n + 10}})
        ct.grant_device("tun")
        infos: list[vpsos.ContainerInfo] = rt.list()
        state: str = ct.state
        stopped: vpsos.Exit = ct.stop(0.5)
        killed: bool = stopped.killed
        code: int | None = stopped.exitstatus
        del res, infos, state, killed, code
    return out, ex


async def wait_all(cts: list[vpsos.Container]) -> list[vpsos.Exit]:
    return list(await asyncio.gather(*(c.wait_async() for c in cts)))


def errors(rt: vpsos.Runtime) -> str | None:
    try:
        rt.load("nope")
    except vpsos.NotFoundError as e:
        kind: str = e.kind
        field: str | None = e.field
        errno: int | None = e.errno
        stage: str | None = e.stage
        return f"{kind} {field} {errno} {stage}"
    return None


def subsystems() -> None:
    a: vpsos.Allocation = vpsos.IdRange("/tmp/x.json").allocate(owner="o")
    m: str = a.id_map
    cg = vpsos.Cgroup("vpsos-test/x", create=False)
    ok: bool = cg.exists() and vpsos.has_feature("zfs") and vpsos.apparmor.enabled()
    links: list[vpsos.Link] = vpsos.net.links()
    z = vpsos.ZFS()
    props: dict[str, dict[str, str]] = z.get("tank", "used")
    cfg: vpsos.Config = vpsos.DirStorage("/tmp/s").import_("x", 0)
    del m, ok, links, props, cfg
'''


def test_a_typed_program_passes_mypy_strict(tmp_path):
    f = tmp_path / "typed_use.py"
    f.write_text(textwrap.dedent(SNIPPET))
    r = mypy("--strict", str(f), cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    # and a misuse is caught (the package's types are seen, not Any)
    bad = tmp_path / "bad_use.py"
    bad.write_text("import vpsos\nx: int = vpsos.Runtime('/run/x').load('a').state\n")
    r = mypy("--strict", str(bad), cwd=str(tmp_path))
    assert r.returncode != 0 and "incompatible types" in r.stdout.lower(), r.stdout + r.stderr


def test_stubtest_finds_the_native_stub_true_to_the_module(tmp_path):
    # stubtest checks every module of the package against its stub (the
    # .py sources, and python/vpsos/_native.pyi for the built _native)
    r = subprocess.run([sys.executable, "-m", "mypy.stubtest", "vpsos", "--ignore-missing-stub"],
                       capture_output=True, text=True, cwd=str(tmp_path), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
