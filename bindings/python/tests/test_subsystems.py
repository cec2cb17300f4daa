"""The subsystems a node manager drives on their own through the binding:
id ranges, cgroups, devices, interfaces, live mounts, directory storage
and exports, AppArmor and ZFS."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time

import pytest

import vpsos
from conftest import SLEEP, TREES, capture


def test_id_range_allocates_lists_and_frees():
    os.makedirs(TREES, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="py-idrange", dir=TREES) as d:
        path = os.path.join(d, "ids.json")
        r = vpsos.IdRange(path, start=1_000_000, block_size=65_536, block_count=16)
        assert r.path == path
        a = r.allocate(owner="ct-a")
        assert a == vpsos.Allocation(0, 1, "ct-a", 1_000_000, 65_536)
        assert a.id_map == "0:1000000:65536"
        b = r.allocate(2, owner="ct-b")
        assert (b.index, b.count, b.first_id, b.id_count) == (1, 2, 1_065_536, 131_072)
        assert r.allocate_at(5, owner="ct-c").index == 5
        with pytest.raises(vpsos.AlreadyExistsError) as e:
            r.allocate_at(2, owner="ct-x")
        assert e.value.kind == "already_exists"
        r.allocate(owner="ct-b")
        assert [x.index for x in r.list()] == [0, 1, 3, 5]
        # another handle on the same file sees the same allocations
        assert vpsos.IdRange(path, start=1_000_000, block_size=65_536, block_count=16).list() == r.list()
        assert r.free(0).owner == "ct-a"
        with pytest.raises(vpsos.VpsosError):
            r.free(0)
        assert r.free_owner("ct-b") == 2
        assert [(x.owner, x.index) for x in r.list()] == [("ct-c", 5)]
        assert r.allocate(owner="ct-d").index == 0, "first fit reuses freed blocks"
        with pytest.raises(vpsos.InvalidConfigError) as e:
            vpsos.IdRange(path, start=2_000_000, block_size=65_536, block_count=16)
        assert e.value.kind == "invalid_config"


def test_cgroup_resources_stats_freeze_and_remove():
    path = f"vpsos-test/py-cg-{os.getpid()}"
    cg = vpsos.Cgroup(path, create=True)
    try:
        assert cg.exists()
        assert cg.path == path
        assert vpsos.Cgroup.mode() in ("unified", "hybrid", "legacy")
        cg.set_resources({"pids": {"max": 50}})
        assert cg.resources()["pids"]["max"] == 50
        assert isinstance(cg.stats(), vpsos.Stats)
        assert cg.procs() == []
        assert not cg.is_frozen()
        cg.freeze()
        assert cg.is_frozen()
        cg.thaw()
        assert not cg.is_frozen()
        cg.kill_all(timeout=1)
    finally:
        cg.remove()
    assert not cg.exists()
    assert not vpsos.Cgroup(path).exists()


def test_grant_and_revoke_tun_device(runtime, config, new_id):
    ct = runtime.run(new_id(), config())
    _, ex = capture(ct, "test", "-c", "/dev/net/tun")
    assert not ex.success, "no /dev/net/tun before the grant"
    ct.grant_device("tun")
    assert any(d["major"] == 10 and d["minor"] == 200 for d in ct.devices()), "the rule is listed"
    _, ex = capture(ct, "test", "-c", "/dev/net/tun")
    assert ex.success, "/dev/net/tun is a char device inside after the grant"
    ct.revoke_device(vpsos.DEVICES["tun"])
    assert not any(d["major"] == 10 and d["minor"] == 200 for d in ct.devices()), "the rule is gone"
    _, ex = capture(ct, "test", "-e", "/dev/net/tun")
    assert not ex.success, "/dev/net/tun is gone after the revoke"


def test_bridged_interface_add_rates_and_remove(runtime, config, new_id):
    bridge = f"vptpy{os.getpid() % 10_000}"  # vpt*: the leak checker's test links
    vpsos.net.add_bridge(bridge)
    try:
        assert vpsos.net.link_exists(bridge)
        vpsos.net.set_up(bridge)
        assert any(l.name == bridge and l.kind == "bridge" for l in vpsos.net.links())
        ct = runtime.run(new_id(), config())
        ct.add_interface({"type": "bridged", "name": "eth1", "bridge": bridge, "addresses": ["10.77.0.2/24"]})
        out, ex = capture(ct, "ip", "addr", "show", "eth1")
        assert ex.success, out
        assert "10.77.0.2/24" in out
        host = ct.host_interfaces()
        assert host
        assert all(vpsos.net.link_exists(h) for h in host)
        ct.set_interface_rates("eth1", rx=10_000_000, tx=20_000_000)
        ct.set_interface_rates("eth1", rx=None, tx=None)
        ct.remove_interface("eth1")
        _, ex = capture(ct, "ip", "link", "show", "eth1")
        assert not ex.success, "eth1 is gone inside"
        assert not any(vpsos.net.link_exists(h) for h in host), "the host end is gone"
    finally:
        try:
            vpsos.net.delete_link(bridge)
        except vpsos.VpsosError:
            pass
    assert not vpsos.net.link_exists(bridge)


def test_live_tmpfs_mount_and_unmount(runtime, config, new_id):
    ct = runtime.run(new_id(), config())
    ct.mount({"type": "tmpfs", "destination": "/mnt/py", "data": "size=1m"})
    out, ex = capture(ct, "grep", "/mnt/py", "/proc/mounts")
    assert ex.success
    assert " /mnt/py tmpfs " in out
    ct.unmount("/mnt/py")
    out, ex = capture(ct, "grep", "/mnt/py", "/proc/mounts")
    assert not ex.success, out


def test_dir_storage_export_and_import(runtime, config, new_id, rootfs):
    os.makedirs(TREES, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="py-storage", dir=TREES) as d:
        os.chmod(d, 0o755)  # the container's root (uid 300000) walks through it
        st = vpsos.DirStorage(os.path.join(d, "rootfs"))
        src = st.create_from_dir("src", rootfs)
        os.chmod(os.path.join(d, "rootfs"), 0o755)
        assert st.path("src") == src
        assert os.access(os.path.join(src, "bin/busybox"), os.X_OK)
        assert os.path.islink(os.path.join(src, "bin/sh"))
        assert os.lstat(os.path.join(src, "etc/passwd")).st_uid == 300_000
        assert st.size("src") > 0
        cfg = config(SLEEP, rootfs=src, hostname="exported")
        with tempfile.TemporaryFile(dir=d) as tf:
            vpsos.export_dir(cfg, src, tf)
            assert os.fstat(tf.fileno()).st_size > 0
            tf.seek(0)
            imported = st.import_("copy", tf)
        assert isinstance(imported, vpsos.Config)
        assert imported["rootfs"] == st.path("copy")
        assert imported["rootfs"].startswith(os.path.join(d, "rootfs") + "/")
        assert imported["hostname"] == "exported"
        assert imported == cfg.merge({"rootfs": st.path("copy")})
        copy = st.path("copy")
        assert os.access(os.path.join(copy, "bin/busybox"), os.X_OK)
        assert os.readlink(os.path.join(src, "bin/sh")) == os.readlink(os.path.join(copy, "bin/sh"))
        assert os.lstat(os.path.join(copy, "etc/passwd")).st_uid == 300_000
        assert sorted(st.list()) == ["copy", "src"]
        # the imported rootfs boots
        ct = runtime.run(new_id(), config(SLEEP, rootfs=copy))
        out, ex = capture(ct, "cat", "/etc/passwd")
        assert ex.success
        assert "root:x:0:0" in out
        ct.delete(force=True)
        st.delete("copy")
        st.delete("src")
        assert st.list() == []


def test_apparmor_profile_load_and_unload():
    if not vpsos.apparmor.enabled():
        pytest.skip("AppArmor is not enabled on this host")
    name = f"vpsos-test-py-{os.getpid()}"
    text = f"profile {name} flags=(attach_disconnected) {{\n  file,\n}}\n"
    os.makedirs(TREES, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="py-aa", dir=TREES) as d:
        try:
            assert vpsos.apparmor.load(name, text, dir=d) == "parsed"
            assert vpsos.apparmor.loaded(name)
            assert vpsos.apparmor.load(name, text, dir=d) == "unchanged"
        finally:
            try:
                vpsos.apparmor.unload(name, dir=d)
            except vpsos.VpsosError:
                pass
        assert not vpsos.apparmor.loaded(name)


def destroy_pool(pool: str) -> None:
    # "pool is busy" while a mount namespace another test cloned still
    # holds a dataset: retry a while (as tests/common/zfs.rs does)
    for _ in range(50):
        r = subprocess.run(["zpool", "destroy", "-f", pool], capture_output=True, text=True)
        if r.returncode == 0 or "busy" not in r.stdout + r.stderr:
            return
        time.sleep(0.2)
    print(f"zpool destroy {pool} failed: the pool is busy")


def test_zfs_datasets_properties_snapshots_clones_and_streams():
    if not vpsos.has_feature("zfs"):
        pytest.skip("no ZFS on this host")
    pool = f"vptp{os.getpid()}"
    img = f"/var/tmp/{pool}.img"
    mnt = f"{TREES}/zfs-{pool}"
    try:
        with open(img, "w") as f:
            f.truncate(256 << 20)  # sparse
        subprocess.run(["zpool", "create", "-f", "-O", f"mountpoint={mnt}", pool, img], check=True)
        zfs = vpsos.ZFS()
        zfs.create(f"{pool}/ct", {"compression": "lz4", "quota": "64M"})
        got = zfs.get([f"{pool}/ct", pool], "compression", "quota")
        assert got[f"{pool}/ct"]["compression"] == "lz4"
        assert got[f"{pool}/ct"]["quota"] == str(64 << 20)
        assert pool in got
        zfs.set(f"{pool}/ct", {"quota": "128M"})
        assert zfs.get(f"{pool}/ct", "quota")[f"{pool}/ct"]["quota"] == str(128 << 20)
        with open(f"{mnt}/ct/hello", "w") as f:
            f.write("zfs\n")
        zfs.snapshot(f"{pool}/ct@s1")
        zfs.clone(f"{pool}/ct@s1", f"{pool}/clone")
        with open(f"{mnt}/clone/hello") as f:
            assert f.read() == "zfs\n"
        with tempfile.TemporaryFile(dir=TREES) as tf:
            sent = zfs.send(f"{pool}/ct@s1", tf)
            assert sent > 0
            tf.seek(0)
            assert zfs.receive(f"{pool}/received", tf) == sent
        with open(f"{mnt}/received/hello") as f:
            assert f.read() == "zfs\n"
        names = zfs.list(pool)
        for ds in (f"{pool}/ct", f"{pool}/clone", f"{pool}/received"):
            assert ds in names
        assert f"{pool}/ct@s1" in zfs.list(pool, type="snapshot")
        zfs.destroy(f"{pool}/clone")
        zfs.destroy(f"{pool}/received", recursive=True)
        zfs.destroy(f"{pool}/ct", recursive=True)
        assert f"{pool}/ct" not in zfs.list(pool)
    finally:
        destroy_pool(pool)
        if os.path.exists(img):
            os.unlink(img)
        if os.path.isdir(mnt) and not os.listdir(mnt):
            os.rmdir(mnt)
