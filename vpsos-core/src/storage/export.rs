//! A container to one stream and back: its description and its root
//! filesystem (a `zfs send` stream, or a tar of a directory rootfs).
//!
//! The format streams, so a send of unknown length needs no spooling:
//! `vpsos-export 1\n`, the description's JSON length (u64, big-endian) and
//! JSON, one byte for the rootfs kind (`z` zfs stream, `t` tar), then the
//! rootfs stream to the end.

use super::zfs::{SendOptions, Zfs};
use super::DirStorage;
use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8] = b"vpsos-export 1\n";

fn io(e: std::io::Error, what: &str) -> Error {
    match e.raw_os_error() {
        // the errno stays readable (a broken pipe, a full disk)
        Some(n) => Error::from_errno(n, what),
        None => Error::new(ErrorKind::Io, format!("{what}: {e}")),
    }
}

pub(crate) fn write_header(out: &mut dyn Write, config: &Config, kind: u8) -> Result<()> {
    let json = config.to_json();
    out.write_all(MAGIC)
        .and_then(|_| out.write_all(&(json.len() as u64).to_be_bytes()))
        .and_then(|_| out.write_all(json.as_bytes()))
        .and_then(|_| out.write_all(&[kind]))
        .map_err(|e| io(e, "writing the export header"))
}

/// The description and the rootfs kind of an export stream.
pub(crate) fn read_header(input: &mut dyn Read) -> Result<(Config, u8)> {
    let bad = |why: &str| Error::invalid("export", why.to_string());
    let mut magic = [0u8; 15];
    input
        .read_exact(&mut magic)
        .map_err(|e| io(e, "reading the export header"))?;
    if magic != MAGIC {
        return Err(bad("not a vpsos export (bad magic)"));
    }
    let mut len = [0u8; 8];
    input
        .read_exact(&mut len)
        .map_err(|e| io(e, "reading the export header"))?;
    let len = u64::from_be_bytes(len);
    if len > 16 << 20 {
        return Err(bad("description over 16 MiB"));
    }
    let mut json = vec![0u8; len as usize];
    input
        .read_exact(&mut json)
        .map_err(|e| io(e, "reading the description"))?;
    // JSON is UTF-8: a damaged description fails here rather than
    // importing with U+FFFD in place of its bytes (paths, names)
    let json =
        std::str::from_utf8(&json).map_err(|e| bad(&format!("description is not UTF-8: {e}")))?;
    let config = Config::from_json(json)?;
    let mut kind = [0u8; 1];
    input
        .read_exact(&mut kind)
        .map_err(|e| io(e, "reading the export header"))?;
    Ok((config, kind[0]))
}

/// Export `config` with its rootfs as the ZFS `snapshot` (a full stream).
///
/// ```no_run
/// use vpsos_core::storage::{export, zfs::Zfs};
/// # let cfg: vpsos_core::Config = unimplemented!();
/// let zfs = Zfs::new()?;
/// zfs.snapshot("tank/ct/101@export", false)?;
/// let mut f = std::fs::File::create("/srv/ct101.vpsos")?;
/// export::export_zfs(&cfg, &zfs, "tank/ct/101@export", &mut f)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn export_zfs(config: &Config, zfs: &Zfs, snapshot: &str, out: &mut dyn Write) -> Result<u64> {
    write_header(out, config, b'z')?;
    zfs.send(snapshot, &SendOptions::default(), out, &mut |_| {})
}

/// Import a ZFS export into the new dataset `target`; returns the
/// description with its rootfs set to the dataset's mountpoint.
pub fn import_zfs(zfs: &Zfs, target: &str, input: &mut dyn Read) -> Result<Config> {
    let (mut config, kind) = read_header(input)?;
    if kind != b'z' {
        return Err(Error::invalid("export", "its rootfs is not a ZFS stream"));
    }
    zfs.receive(target, false, input, &mut |_| {})?;
    let mp = zfs.get(&[target], &["mountpoint"])?;
    let mountpoint = mp.get(target, "mountpoint").unwrap_or("-");
    if !mountpoint.starts_with('/') {
        return Err(Error::new(
            ErrorKind::InvalidConfig,
            format!("imported dataset {target} has no mountpoint ({mountpoint})"),
        ));
    }
    config.rootfs = PathBuf::from(mountpoint);
    Ok(config)
}

/// Export `config` with the directory rootfs at `rootfs` as a tar stream
/// (owners, modes, symlinks and device nodes kept).
pub fn export_dir(config: &Config, rootfs: &Path, out: &mut dyn Write) -> Result<()> {
    write_header(out, config, b't')?;
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Complete);
    b.append_dir_all(".", rootfs)
        .and_then(|_| b.finish())
        .map_err(|e| io(e, &format!("archiving {}", rootfs.display())))
}

/// Import a directory export into `storage` as `name`; returns the
/// description with its rootfs set there.
pub fn import_dir(storage: &DirStorage, name: &str, input: &mut dyn Read) -> Result<Config> {
    let (mut config, kind) = read_header(input)?;
    if kind != b't' {
        return Err(Error::invalid("export", "its rootfs is not a tar stream"));
    }
    config.rootfs = storage.create_from_tar(name, input)?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_rejects_strangers() {
        let cfg = Config::builder("/srv/a")
            .id_maps(crate::IdMap::single(0, 100_000, 65536))
            .hostname("h")
            .build()
            .unwrap();
        let mut buf = Vec::new();
        write_header(&mut buf, &cfg, b't').unwrap();
        buf.extend_from_slice(b"payload");
        let mut r = &buf[..];
        let (back, kind) = read_header(&mut r).unwrap();
        assert_eq!((back, kind), (cfg, b't'));
        assert_eq!(r, b"payload");
        let e = read_header(&mut &b"something else entirely"[..]).unwrap_err();
        assert_eq!(e.field(), Some("export"));
    }

    #[test]
    fn description_that_is_not_utf8_is_refused() {
        // it was read lossily: the hostname came back as "h\u{fffd}"
        let cfg = Config::builder("/srv/a")
            .id_maps(crate::IdMap::single(0, 100_000, 65536))
            .hostname("hX")
            .build()
            .unwrap();
        let mut buf = Vec::new();
        write_header(&mut buf, &cfg, b't').unwrap();
        let at = buf.windows(4).position(|w| w == b"\"hX\"").unwrap() + 2;
        buf[at] = 0xff;
        let e = read_header(&mut &buf[..]).unwrap_err();
        assert_eq!(e.field(), Some("export"), "{e}");
        assert!(e.to_string().contains("utf-8"), "{e}");
    }
}
