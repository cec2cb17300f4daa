//! Networking over netlink on real containers. Traffic flows only between
//! namespaces the tests create: containers on a test bridge that has no
//! address of the host's. Every test removes its bridge; the host ends of
//! test interfaces are named `vpst…` and the leak checker looks for them.
//! Run as root.

mod common;

use common::net::*;
use common::*;
use vpsos::config::Interface;
use vpsos::net::Netlink;
use vpsos::{Container, CreateOptions, ErrorKind, ExitStatus, Process};

fn sleeper_with(name: &str, ifaces: Vec<Interface>) -> (String, Container) {
    let mut b = config().init(Process::new(["/bin/sleep", "1000"]));
    for i in ifaces {
        b = b.interface(i);
    }
    let id = id(name);
    let ct = runtime()
        .run(&id, &b.build().unwrap(), CreateOptions::default())
        .unwrap();
    (id, ct)
}

fn host_has(link: &str) -> bool {
    Netlink::open().unwrap().link(link).is_ok()
}

fn finish(id: &str, ct: Container) {
    let ends = ct.host_interfaces().unwrap();
    ct.delete_force().unwrap();
    for e in ends {
        assert!(!host_has(&e), "host end {e} left behind");
    }
    assert_no_leaks(id, rootfs());
}

#[test]
fn netlink_layer_in_a_private_namespace() {
    require_root!();
    std::thread::spawn(|| {
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0);
        let nl = Netlink::open().unwrap();
        nl.set_up(nl.index("lo").unwrap(), true).unwrap();
        // (a veth: this host's kernel has no dummy driver)
        nl.add_veth("vt0", "vt0p", None).unwrap();
        let i = nl.index("vt0").unwrap();
        nl.set_mtu(i, 1400).unwrap();
        nl.set_mac(i, vpsos::net::parse_mac("02:00:00:aa:bb:cc").unwrap())
            .unwrap();
        nl.set_up(i, true).unwrap();
        nl.add_address(i, "10.66.0.1/24".parse().unwrap(), "vt0")
            .unwrap();
        nl.add_address(i, "fd00:66::1/64".parse().unwrap(), "vt0")
            .unwrap();
        nl.add_route(
            Some("10.77.0.0/16".parse().unwrap()),
            Some("10.66.0.2".parse().unwrap()),
            Some(i),
            "route",
        )
        .unwrap();
        let l = nl.link("vt0").unwrap();
        assert_eq!((l.mtu, l.up, l.kind.as_deref()), (1400, true, Some("veth")));
        assert_eq!(l.mac, Some([2, 0, 0, 0xaa, 0xbb, 0xcc]));
        // errors carry the errno and what was asked
        let e = nl
            .add_address(i, "10.66.0.1/24".parse().unwrap(), "vt0")
            .unwrap_err();
        assert_eq!(e.errno(), Some(libc::EEXIST));
        assert!(e.to_string().contains("adding 10.66.0.1/24 to vt0"), "{e}");
        assert_eq!(nl.link("nope0").unwrap_err().kind(), ErrorKind::NotFound);
        // a bridge with a port, renamed while down
        nl.add_bridge("vtbr").unwrap();
        nl.add_veth("vta", "vtb", None).unwrap();
        let (br, a) = (nl.index("vtbr").unwrap(), nl.index("vta").unwrap());
        nl.set_master(a, br).unwrap();
        assert_eq!(nl.link("vta").unwrap().master, Some(br));
        nl.set_name(a, "vtc").unwrap();
        assert!(nl.link("vtc").is_ok());
        nl.delete(a).unwrap();
        assert!(nl.link("vtb").is_err(), "a veth takes its peer along");
        let names: Vec<String> = nl.links().unwrap().into_iter().map(|l| l.name).collect();
        assert!(
            names.contains(&"vt0".to_string()) && names.contains(&"lo".to_string()),
            "{names:?}"
        );
    })
    .join()
    .unwrap();
}

#[test]
fn loopback_is_up_in_a_new_network_namespace() {
    require_root!();
    let (st, out) = run_sh(
        config(),
        "ip link show lo | head -1; ping -c 1 -W 2 127.0.0.1 >/dev/null && echo pong",
    );
    assert!(st.success(), "{out}");
    assert!(out.contains("UP"), "{out}");
    assert!(out.contains("pong"), "{out}");
}

#[test]
fn bridged_containers_ping_and_move_10_mb() {
    require_root!();
    let br = Bridge::new();
    let net = subnet(1);
    let a_addr = format!("{net}.2");
    let (ida, a) = sleeper_with("neta", vec![iface("eth0", &br, &format!("{a_addr}/24"))]);
    let (idb, b) = sleeper_with("netb", vec![iface("eth0", &br, &format!("{net}.3/24"))]);

    let (st, out) = exec_sh(&b, &format!("ping -c 2 -W 2 {a_addr}"));
    assert_eq!(st, ExitStatus::Exited(0), "{out}");

    // a listener whose stdin stays open (busybox nc quits at its EOF)
    let (_r, w) = pipe();
    let server = a
        .exec(
            &sh("sleep 1000 | nc -l -p 5000 > /dev/shm/recv"),
            capture(w),
        )
        .unwrap();
    let (st, sent) = exec_sh(
        &b,
        &format!(
            "dd if=/dev/urandom of=/dev/shm/data bs=1M count=10 2>/dev/null; \
             md5sum < /dev/shm/data; \
             for i in $(seq 50); do nc {a_addr} 5000 < /dev/shm/data && exit 0; sleep 0.1; done; exit 1"
        ),
    );
    assert_eq!(st, ExitStatus::Exited(0), "{sent}");
    let (_, got) = exec_sh(
        &a,
        "for i in $(seq 100); do [ \"$(stat -c %s /dev/shm/recv)\" = 10485760 ] && break; sleep 0.1; done; \
         md5sum < /dev/shm/recv",
    );
    assert_eq!(
        got.split_whitespace().next(),
        sent.split_whitespace().next(),
        "sent {sent} got {got}"
    );
    // the host end counted the bytes
    let host_a = Netlink::open()
        .unwrap()
        .link(&a.host_interfaces().unwrap()[0])
        .unwrap();
    assert!(host_a.tx_bytes >= 10 << 20, "{host_a:?}");

    server.kill(libc::SIGKILL).unwrap();
    let _ = server.wait();
    finish(&ida, a);
    finish(&idb, b);
}

#[test]
fn interfaces_come_and_go_on_a_running_container() {
    require_root!();
    let br = Bridge::new();
    let net = subnet(2);
    let (ida, a) = sleeper_with("neta", vec![iface("eth0", &br, &format!("{net}.2/24"))]);
    let (idc, c) = sleeper_with("netc", vec![]);
    let (st, _) = exec_sh(&c, "ip link show eth1");
    assert_ne!(st, ExitStatus::Exited(0));

    c.add_interface(iface("eth1", &br, &format!("{net}.4/24")))
        .unwrap();
    let (st, out) = exec_sh(&c, &format!("ping -c 1 -W 2 {net}.2"));
    assert_eq!(st, ExitStatus::Exited(0), "{out}");
    let host = c.host_interfaces().unwrap()[0].clone();
    assert!(host_has(&host));
    // another process sees it in the state
    assert_eq!(
        runtime()
            .load(&idc)
            .unwrap()
            .config()
            .unwrap()
            .interfaces
            .len(),
        1
    );
    let e = c
        .add_interface(iface("eth1", &br, &format!("{net}.5/24")))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);

    c.remove_interface("eth1").unwrap();
    let (st, out) = exec_sh(&c, "ip link show eth1");
    assert_ne!(st, ExitStatus::Exited(0), "{out}");
    assert!(!host_has(&host), "host end still there");
    assert_eq!(
        c.remove_interface("eth1").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    finish(&ida, a);
    finish(&idc, c);
}

#[test]
fn a_bad_interface_fails_the_start_and_leaves_nothing() {
    require_root!();
    let mut i =
        Interface::bridged("eth0", "vpt-nobridge").address("10.250.1.2/24".parse().unwrap());
    i.host_name = Some(host_end());
    let host = i.host_name.clone().unwrap();
    let cfg = config().interface(i).init(sh("true")).build().unwrap();
    let id = id("netbad");
    let e = runtime()
        .run(&id, &cfg, CreateOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("vpt-nobridge"), "{e}");
    assert!(!host_has(&host));
    assert_no_leaks(&id, rootfs());

    // a duplicate address fails after the veth was made: it goes again
    let br = Bridge::new();
    let mut i = iface("eth0", &br, "10.250.2.2/24");
    i.addresses.push("10.250.2.2/24".parse().unwrap());
    let host = i.host_name.clone().unwrap();
    let cfg = config().interface(i).init(sh("true")).build().unwrap();
    let id = common::id("netdup");
    let e = runtime()
        .run(&id, &cfg, CreateOptions::default())
        .unwrap_err();
    assert_eq!(e.errno(), Some(libc::EEXIST), "{e}");
    assert!(
        e.to_string()
            .contains("adding 10.250.2.2/24 to eth0 in container"),
        "{e}"
    );
    assert!(!host_has(&host));
    assert_no_leaks(&id, rootfs());

    // validation names the field before anything is made
    let e = config()
        .namespace(vpsos::NamespaceKind::Network, None)
        .interface(Interface::bridged("eth0", "br0"))
        .build()
        .unwrap_err();
    assert_eq!(e.field(), Some("interfaces[0]"));
}

/// Run `args` (busybox) in the network namespace of thread `tid`.
fn in_ns_of(tid: i32, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new("nsenter")
        .arg(format!(
            "--net=/proc/{}/task/{tid}/ns/net",
            std::process::id()
        ))
        .arg("/bin/busybox")
        .args(args)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn routed_container_reaches_upstream_and_back() {
    require_root!();
    // this thread's own network namespace plays the host, so forwarding
    // and routes never touch the real one; another thread's is upstream
    std::thread::spawn(|| {
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0);
        let nl = Netlink::open().unwrap();
        nl.set_up(nl.index("lo").unwrap(), true).unwrap();
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").unwrap();
        std::fs::write("/proc/sys/net/ipv6/conf/all/forwarding", "1").unwrap();

        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let upstream = std::thread::spawn(move || {
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0);
            tx.send(unsafe { libc::gettid() }).unwrap();
            let _ = done_rx.recv();
        });
        let utid = rx.recv().unwrap();
        let ns = std::fs::File::open(format!("/proc/{}/task/{utid}/ns/net", std::process::id()))
            .unwrap();
        nl.add_veth("up0", "up1", Some(std::os::fd::AsFd::as_fd(&ns)))
            .unwrap();
        let up0 = nl.index("up0").unwrap();
        nl.add_address(up0, "192.0.2.1/30".parse().unwrap(), "up0")
            .unwrap();
        nl.add_address(up0, "2001:db8:ff::1/64".parse().unwrap(), "up0")
            .unwrap();
        nl.set_up(up0, true).unwrap();
        let un = Netlink::in_netns(std::os::fd::AsFd::as_fd(&ns), "upstream").unwrap();
        let up1 = un.index("up1").unwrap();
        un.set_up(un.index("lo").unwrap(), true).unwrap();
        un.add_address(up1, "192.0.2.2/30".parse().unwrap(), "up1")
            .unwrap();
        un.add_address(up1, "2001:db8:ff::2/64".parse().unwrap(), "up1")
            .unwrap();
        un.set_up(up1, true).unwrap();
        un.add_route(
            Some("198.51.100.0/24".parse().unwrap()),
            Some("192.0.2.1".parse().unwrap()),
            Some(up1),
            "r4",
        )
        .unwrap();
        un.add_route(
            Some("2001:db8:1::/64".parse().unwrap()),
            Some("2001:db8:ff::1".parse().unwrap()),
            Some(up1),
            "r6",
        )
        .unwrap();

        let mut i = Interface::routed("eth0")
            .address("198.51.100.5/32".parse().unwrap())
            .address("2001:db8:1::5/128".parse().unwrap());
        i.host_name = Some(host_end());
        let (id, ct) = sleeper_with("routed", vec![i]);
        let host = ct.host_interfaces().unwrap()[0].clone();
        let rp =
            std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{host}/rp_filter")).unwrap();
        assert_eq!(rp.trim(), "1");

        // upstream reaches the container through the host routes
        let (ok, out) = in_ns_of(utid, &["ping", "-c", "1", "-W", "3", "198.51.100.5"]);
        assert!(ok, "upstream -> container v4: {out}");
        let (ok, out) = in_ns_of(utid, &["ping", "-6", "-c", "1", "-W", "3", "2001:db8:1::5"]);
        assert!(ok, "upstream -> container v6: {out}");
        // and the container reaches upstream through its gateways
        let (st, out) = exec_sh(
            &ct,
            "ip route; ping -c 1 -W 3 192.0.2.2 && ping -6 -c 1 -W 3 2001:db8:ff::2",
        );
        assert_eq!(st, ExitStatus::Exited(0), "{out}");
        assert!(out.contains("default via 255.255.255.254"), "{out}");

        finish(&id, ct);
        done_tx.send(()).unwrap();
        upstream.join().unwrap();
    })
    .join()
    .unwrap();
}

#[test]
fn orphaned_host_interfaces_are_found_and_removed() {
    require_root!();
    let br = Bridge::new();
    let (id, ct) = sleeper_with("netlive", vec![iface("eth0", &br, "10.251.0.2/24")]);
    let live_end = ct.host_interfaces().unwrap()[0].clone();
    let alias = Netlink::open()
        .unwrap()
        .link(&live_end)
        .unwrap()
        .alias
        .unwrap();
    assert_eq!(alias, format!("vpsos:{STATE_ROOT}/{id}"));

    // what a crashed runtime leaves: a marked veth whose container is gone
    let ghost = host_end();
    let nl = Netlink::open().unwrap();
    nl.add_veth(&ghost, &format!("{ghost}p"), None).unwrap();
    let gi = nl.index(&ghost).unwrap();
    nl.set_alias(
        gi,
        &format!("vpsos:{STATE_ROOT}/ghost-{}", std::process::id()),
    )
    .unwrap();

    let orphans: Vec<String> = runtime()
        .orphaned_interfaces()
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert!(orphans.contains(&ghost), "{orphans:?}");
    assert!(!orphans.contains(&live_end), "{orphans:?}");
    let removed = runtime().remove_orphaned_interfaces().unwrap();
    assert!(removed.contains(&ghost), "{removed:?}");
    assert!(!host_has(&ghost) && host_has(&live_end));
    finish(&id, ct);
}

#[test]
fn a_tap_for_a_vm_inside() {
    require_root!();
    let cfg = config()
        .device(vpsos::config::DeviceRule::tun())
        .interface(Interface::tap("tap0").address("10.252.0.1/24".parse().unwrap()))
        .init(Process::new(["/bin/sleep", "1000"]))
        .build()
        .unwrap();
    let id = id("nettap");
    let ct = runtime().run(&id, &cfg, CreateOptions::default()).unwrap();
    // up with its address, and its owner (the container's root) attaches
    let (st, out) = exec_sh(&ct, "ip addr show tap0 && tunctl -t tap0");
    assert_eq!(st, ExitStatus::Exited(0), "{out}");
    assert!(out.contains("10.252.0.1/24") && out.contains("UP"), "{out}");
    assert!(
        ct.host_interfaces().unwrap().is_empty(),
        "a tap has no host end"
    );
    // live: another one, then both go
    ct.add_interface(Interface::tap("tap1")).unwrap();
    let (st, out) = exec_sh(&ct, "ip link show tap1");
    assert_eq!(st, ExitStatus::Exited(0), "{out}");
    ct.remove_interface("tap1").unwrap();
    ct.remove_interface("tap0").unwrap();
    let (st, _) = exec_sh(&ct, "ip link show tap0 || ip link show tap1");
    assert_ne!(st, ExitStatus::Exited(0));
    finish(&id, ct);
    // without /dev/net/tun the description is refused
    let e = config()
        .interface(Interface::tap("tap0"))
        .build()
        .unwrap_err();
    assert_eq!(e.field(), Some("interfaces[0]"));
}

#[test]
fn shaping_qdiscs_in_a_private_namespace() {
    require_root!();
    std::thread::spawn(|| {
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0);
        let nl = Netlink::open().unwrap();
        nl.add_veth("sh0", "sh1", None).unwrap();
        nl.add_ifb("sh0i").unwrap();
        let (i, ifb) = (nl.index("sh0").unwrap(), nl.index("sh0i").unwrap());
        nl.set_rate(i, 80_000_000).unwrap();
        let q = nl.qdiscs(i).unwrap();
        assert!(
            q.iter()
                .any(|q| q.kind == "tbf" && q.rate_bps == Some(80_000_000)),
            "{q:?}"
        );
        // changed live: replaced, one root qdisc with the new rate
        nl.set_rate(i, 10_000_000_000).unwrap();
        let q: Vec<_> = nl
            .qdiscs(i)
            .unwrap()
            .into_iter()
            .filter(|q| q.kind == "tbf")
            .collect();
        assert_eq!(q.len(), 1, "{q:?}");
        assert_eq!(q[0].rate_bps, Some(10_000_000_000));
        nl.clear_rate(i).unwrap();
        assert!(!nl.qdiscs(i).unwrap().iter().any(|q| q.kind == "tbf"));
        nl.clear_rate(i).unwrap();
        // transmit side: ingress redirected to an ifb with its own rate
        nl.redirect_ingress(i, ifb).unwrap();
        nl.set_rate(ifb, 8_000_000).unwrap();
        assert!(nl.qdiscs(i).unwrap().iter().any(|q| q.kind == "ingress"));
        assert_eq!(nl.qdiscs(ifb).unwrap()[0].rate_bps, Some(8_000_000));
        assert_eq!(
            nl.set_rate(i, 100).unwrap_err().kind(),
            ErrorKind::InvalidConfig
        );
    })
    .join()
    .unwrap();
}

#[test]
fn shaped_interface_rates_are_set_changed_and_removed() {
    require_root!();
    let br = Bridge::new();
    let mut i = iface("eth0", &br, "10.253.0.2/24");
    i.max_rx = Some(8_000_000);
    i.max_tx = Some(16_000_000);
    let (id, ct) = sleeper_with("netshape", vec![i]);
    let nl = Netlink::open().unwrap();
    let ends = ct.host_interfaces().unwrap();
    assert_eq!(ends.len(), 2, "veth host end and ifb: {ends:?}");
    let (host, ifb) = (nl.index(&ends[0]).unwrap(), nl.index(&ends[1]).unwrap());
    let rate = |i: u32| {
        nl.qdiscs(i)
            .unwrap()
            .into_iter()
            .find(|q| q.kind == "tbf")
            .and_then(|q| q.rate_bps)
    };
    assert_eq!(rate(host), Some(8_000_000));
    assert_eq!(rate(ifb), Some(16_000_000));
    assert!(nl.qdiscs(host).unwrap().iter().any(|q| q.kind == "ingress"));

    // live: a new receive rate, no transmit limit (ifb and redirect go)
    ct.set_interface_rates("eth0", Some(4_000_000), None)
        .unwrap();
    assert_eq!(rate(host), Some(4_000_000));
    assert!(!host_has(&ends[1]), "ifb still there");
    assert!(!nl.qdiscs(host).unwrap().iter().any(|q| q.kind == "ingress"));
    assert_eq!(ct.host_interfaces().unwrap().len(), 1);
    // and no limit at all
    ct.set_interface_rates("eth0", None, None).unwrap();
    assert_eq!(rate(host), None);
    finish(&id, ct);
}

#[test]
fn dummy_links() {
    require_root!();
    let supported = std::thread::spawn(|| {
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0);
        let nl = Netlink::open().unwrap();
        match nl.add_dummy("vd0") {
            Err(e) if e.errno() == Some(libc::EOPNOTSUPP) => return false,
            r => r.unwrap(),
        }
        let l = nl.link("vd0").unwrap();
        assert_eq!(l.kind.as_deref(), Some("dummy"));
        nl.delete_named("vd0").unwrap();
        assert!(nl.link("vd0").is_err());
        true
    })
    .join()
    .unwrap();
    skip_unless!(supported, "dummy_links", "this kernel has no dummy driver");
}
