//! `zfs send` to any writer and `zfs receive` from any reader, with byte
//! progress. The pipes are polled together with the child's stderr and
//! the [`Until`] in force, so neither side can hang the other: when the
//! caller's writer or reader fails (a migration's link died), the `zfs`
//! child is ended and reaped and the caller's error returned; when `zfs`
//! fails, its stderr is the error.

use super::child::{write_nosigpipe, Running};
use super::names::{check, NameKind};
use super::Zfs;
use crate::error::{Error, ErrorKind, Result, ResultExt};
use crate::until::Until;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

/// How long `zfs receive` gets to end by itself once its input is closed
/// early (it then cleans up, or keeps the resumable state with `-s`),
/// before it is asked to end.
const RECV_EXIT_GRACE: Duration = Duration::from_secs(10);
/// Bytes moved per read.
const CHUNK: usize = 256 << 10;

/// How to send a stream.
///
/// ```
/// use vpsos_core::storage::zfs::SendOptions;
/// let incremental_with_props = SendOptions {
///     from: Some("tank/ct/101@s1".into()),
///     properties: true,
///     ..Default::default()
/// };
/// assert!(!incremental_with_props.raw);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// Incremental from this snapshot or bookmark (`-i`), or with every
    /// snapshot in between (`-I`, when `intermediates`). A full name, or
    /// the short `@snap` / `#bookmark` of the sent snapshot's dataset.
    pub from: Option<String>,
    /// Send intermediate snapshots too (`-I`).
    pub intermediates: bool,
    /// Keep blocks compressed as on disk (`-c`).
    pub compressed: bool,
    /// Raw, for encrypted datasets (`-w`).
    pub raw: bool,
    /// Large blocks as they are (`-L`).
    pub large_blocks: bool,
    /// Include the dataset's properties, user ones too (`-p`).
    pub properties: bool,
}

/// How to receive a stream.
///
/// ```
/// use vpsos_core::storage::zfs::RecvOptions;
/// // osctld's way: roll back to the last common snapshot, do not mount
/// let opts = RecvOptions { force: true, no_mount: true, ..Default::default() };
/// assert!(!opts.resumable);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecvOptions {
    /// Roll the target back to its latest snapshot first (`-F`).
    pub force: bool,
    /// Do not mount the received dataset (`-u`).
    pub no_mount: bool,
    /// Keep the state of a receive that ends early, to resume it (`-s`;
    /// the target's `receive_resume_token` property says where), instead
    /// of discarding it; [`Zfs::abort_receive`] discards it later.
    pub resumable: bool,
}

/// The error of a child that failed: its stderr.
fn failed(args: &[String], st: ExitStatus, p: &Running) -> Error {
    let why = match p.errors() {
        e if e.is_empty() => st.to_string(),
        e => e,
    };
    Error::new(ErrorKind::Command, format!("zfs {}: {why}", args.join(" ")))
}

/// A wait that ended without the event: cancelled, or the scope's
/// deadline passed.
fn not_waited(r: Result<Option<usize>>, what: &str) -> Error {
    match r {
        Err(e) => e.context(what),
        _ => Error::new(
            ErrorKind::Cancelled,
            format!("{what}: the time allowed ran out"),
        ),
    }
}

/// Wait for `p` to end (the [`Until`] in force may cancel) and check it.
fn finish(mut p: Running, args: &[String], what: &str) -> Result<()> {
    match p.wait(&Until::forever()) {
        Ok(Some(st)) if st.success() => Ok(()),
        Ok(Some(st)) => Err(failed(args, st, &p)),
        r => Err(not_waited(r.map(|_| None), what)),
    }
}

impl Zfs {
    /// Send `snapshot` to `out`; `progress` gets the bytes so far. Returns
    /// the stream's size. When `out` fails, the `zfs send` is ended and
    /// reaped and `out`'s error returned ("zfs send of `<snapshot>`:
    /// writing the stream: ..."); a failing `zfs send` gives a
    /// [`Command`](ErrorKind::Command) error with its stderr. The
    /// [`Until`] in force may cancel it.
    ///
    /// ```no_run
    /// use vpsos_core::storage::zfs::{SendOptions, Zfs};
    /// let zfs = Zfs::new()?;
    /// let mut out = std::net::TcpStream::connect("node2:4000")?;
    /// let opts = SendOptions { from: Some("@s1".into()), properties: true, ..Default::default() };
    /// let n = zfs.send("tank/ct/101@s2", &opts, &mut out, &mut |b| eprint!("\r{b} bytes"))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send(
        &self,
        snapshot: &str,
        opts: &SendOptions,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        check(snapshot, &[NameKind::Snapshot], false)?;
        let mut a: Vec<String> = vec!["send".into()];
        for (on, f) in [
            (opts.compressed, "-c"),
            (opts.raw, "-w"),
            (opts.large_blocks, "-L"),
            (opts.properties, "-p"),
        ] {
            if on {
                a.push(f.into());
            }
        }
        if let Some(from) = &opts.from {
            let full = if from.starts_with(['@', '#']) {
                let ds = snapshot.split('@').next().unwrap_or_default();
                format!("{ds}{from}")
            } else {
                from.clone()
            };
            check(&full, &[NameKind::Snapshot, NameKind::Bookmark], false)?;
            a.push(if opts.intermediates { "-I" } else { "-i" }.into());
            a.push(from.clone());
        }
        a.extend(["--".into(), snapshot.into()]);
        let what = format!("zfs send of {snapshot}");
        let mut cmd = self.command(&a);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        let mut p = Running::spawn(cmd, &what, self.grace)?;
        let mut stdout = Some(p.stdout()?);
        let until = Until::forever();
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0u64;
        while let Some(s) = &mut stdout {
            let mut fds = vec![(s.as_raw_fd(), libc::POLLIN)];
            fds.extend(p.stderr_fd().map(|fd| (fd, libc::POLLIN)));
            match until.wait_any(&fds) {
                Ok(Some(0)) => {}
                Ok(Some(_)) => {
                    p.read_stderr();
                    continue;
                }
                r => {
                    // its write end stays open in it: close ours first
                    drop(stdout.take());
                    p.end(None);
                    return Err(not_waited(r, &what));
                }
            }
            let n = match s.read(&mut buf) {
                Ok(0) => {
                    stdout = None;
                    continue;
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    drop(stdout.take());
                    p.end(None);
                    return Err(e).ctx(|| format!("{what}: reading its output"));
                }
            };
            if let Err(e) = out.write_all(&buf[..n]) {
                drop(stdout.take());
                p.end(None);
                return Err(e).ctx(|| format!("{what}: writing the stream"));
            }
            total += n as u64;
            progress(total);
        }
        finish(p, &a, &what)?;
        Ok(total)
    }

    /// Receive a stream from `input` into `target` (`force`: roll it back
    /// first, `-F`); `progress` gets the bytes so far. Returns the bytes.
    /// The same as [`receive_with`](Zfs::receive_with) with only `force`.
    ///
    /// ```no_run
    /// let zfs = vpsos_core::storage::zfs::Zfs::new()?;
    /// let mut f = std::fs::File::open("/srv/ct101.zfs")?;
    /// zfs.receive("tank/ct/101", false, &mut f, &mut |_| {})?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn receive(
        &self,
        target: &str,
        force: bool,
        input: &mut dyn Read,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        let opts = RecvOptions {
            force,
            ..Default::default()
        };
        self.receive_with(target, &opts, input, progress)
    }

    /// Receive a stream from `input` into `target` (a dataset, or the
    /// snapshot to name the received one) as `opts` say; `progress` gets
    /// the bytes so far. Returns the bytes.
    ///
    /// When `input` fails, `zfs receive` gets end of file, is given 10 s
    /// to clean up and end (then SIGTERM, then SIGKILL), is reaped, and
    /// `input`'s error returned ("zfs receive into `<target>`: reading the
    /// stream: ..."); what it leaves is what ZFS leaves: nothing of a new
    /// dataset, or with [`resumable`](RecvOptions::resumable) the partial
    /// state. When `zfs receive` ends before the stream does (a bad
    /// stream), `input` is read no further and its stderr is the error.
    /// The [`Until`] in force may cancel it.
    ///
    /// ```no_run
    /// use vpsos_core::storage::zfs::{RecvOptions, Zfs};
    /// let zfs = Zfs::new()?;
    /// let mut input = std::net::TcpListener::bind("0.0.0.0:4000")?.accept()?.0;
    /// let opts = RecvOptions { force: true, no_mount: true, ..Default::default() };
    /// zfs.receive_with("tank/ct/101", &opts, &mut input, &mut |_| {})?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn receive_with(
        &self,
        target: &str,
        opts: &RecvOptions,
        input: &mut dyn Read,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        check(target, &[NameKind::Dataset, NameKind::Snapshot], true)?;
        let mut a: Vec<String> = vec!["receive".into()];
        for (on, f) in [
            (opts.force, "-F"),
            (opts.no_mount, "-u"),
            (opts.resumable, "-s"),
        ] {
            if on {
                a.push(f.into());
            }
        }
        a.extend(["--".into(), target.into()]);
        let what = format!("zfs receive into {target}");
        let mut cmd = self.command(&a);
        cmd.stdin(Stdio::piped()).stdout(Stdio::null());
        let mut p = Running::spawn(cmd, &what, self.grace)?;
        let stdin = p.stdin()?;
        let until = Until::forever();
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0u64;
        loop {
            let n = match input.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    drop(stdin);
                    p.end(Some(RECV_EXIT_GRACE));
                    return Err(e).ctx(|| format!("{what}: reading the stream"));
                }
            };
            let mut off = 0;
            while off < n {
                let mut fds = vec![(stdin.as_raw_fd(), libc::POLLOUT)];
                fds.extend(p.stderr_fd().map(|fd| (fd, libc::POLLIN)));
                match until.wait_any(&fds) {
                    Ok(Some(0)) => {}
                    Ok(Some(_)) => {
                        p.read_stderr();
                        continue;
                    }
                    r => {
                        drop(stdin);
                        p.end(None);
                        return Err(not_waited(r, &what));
                    }
                }
                match write_nosigpipe(stdin.as_raw_fd(), &buf[off..n]) {
                    Ok(k) => off += k,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {
                        // it stopped reading: read no more, say why
                        drop(stdin);
                        finish(p, &a, &what)?;
                        return Err(Error::new(
                            ErrorKind::Io,
                            format!(
                                "{what}: zfs receive ended after {} of the stream's bytes, before its end",
                                total + off as u64
                            ),
                        ));
                    }
                    Err(e) => {
                        drop(stdin);
                        p.end(None);
                        return Err(e).ctx(|| format!("{what}: writing to zfs receive"));
                    }
                }
            }
            total += n as u64;
            progress(total);
        }
        drop(stdin);
        finish(p, &a, &what)?;
        Ok(total)
    }

    /// Discard the partial state a [`resumable`](RecvOptions::resumable)
    /// receive into `target` left (`zfs receive -A`).
    ///
    /// ```no_run
    /// let zfs = vpsos_core::storage::zfs::Zfs::new()?;
    /// let p = zfs.get(&["tank/ct/101"], &["receive_resume_token"])?;
    /// if p.get("tank/ct/101", "receive_resume_token") != Some("-") {
    ///     zfs.abort_receive("tank/ct/101")?;
    /// }
    /// # Ok::<(), vpsos_core::Error>(())
    /// ```
    pub fn abort_receive(&self, target: &str) -> Result<()> {
        check(target, &[NameKind::Dataset], false)?;
        self.run(&["receive", "-A", "--", target]).map(|_| ())
    }
}
