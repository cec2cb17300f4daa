//! Hostile configs: descriptions that would hand the container the
//! host's root must be refused unless they say, by name, that a
//! privileged container is meant.

use super::Suite;
use crate::common::*;
use vpsos::{CreateOptions, ErrorKind, IdMap};

pub fn attacks(s: &mut Suite) {
    for (name, map) in [
        (
            "run with a map of host uid 0 (0:0:1)",
            "0:0:1,1:100001:65535",
        ),
        (
            "run with host root deep in a map",
            "0:400000:1000,1000:0:1,1001:401001:64535",
        ),
    ] {
        let m: IdMap = map.parse().unwrap();
        let id = id("escapemap");
        let b = || {
            config()
                .id_maps(m.clone())
                .init(sh("echo 77 > /proc/sys/kernel/panic"))
        };
        let refused = match b().build() {
            Err(e) => e.kind() == ErrorKind::InvalidConfig && e.field() == Some("uid_map"),
            Ok(cfg) => runtime()
                .run(&id, &cfg, CreateOptions::default())
                .map(|ct| ct.delete_force())
                .is_err(),
        };
        // the control: the same description with `privileged` is valid
        let control = b().privileged(true).build();
        s.judge(name, control.is_ok(), refused, &format!("{control:?}"));
        assert_no_leaks(&id, rootfs());
    }
    let b = || privileged_config().init(sh("true"));
    let e = b().privileged(false).build().err();
    s.judge(
        "run without a user namespace unasked",
        b().build().is_ok(),
        e.as_ref()
            .is_some_and(|e| e.field() == Some("namespaces.user")),
        &format!("{e:?}"),
    );
}
