//! A container's monitor: parent of its init, reader of its terminals,
//! keeper of its console log and exit record.
//!
//! Terminals (the console, then tty1..N) are pty pairs made by the caller;
//! the monitor holds both ends of each, so the container's writes never
//! fail or block for want of a reader and no attacher's departure hangs
//! a terminal up. Output of the console goes to `console.log` in the
//! state directory (rotated to `console.log.0` at half the configured
//! size, so at most that size is kept) and to whoever is attached;
//! output nobody is attached to is read and dropped, so a getty never
//! blocks. An attacher that does not keep up loses output rather than
//! stalling the container.
//!
//! The attach socket takes one request line per connection:
//! - `attach <n>`: `ok`, then the connection is terminal n's stream
//!   (0 = console), in both directions, until either side closes;
//! - `resize <n> <rows> <cols>`: `ok`, and the terminal's size is set.
//!
//! When the init has ended (and every other child with it), the monitor
//! writes the record (`exited N` or `signaled N`, then `at <unix time>`)
//! in one write to `exit` in the state directory (made empty by vpsos,
//! held open as fd 6) and exits.

use crate::sys::{self, PollFd, POLLERR, POLLHUP, POLLIN, POLLNVAL};
use crate::text::{self, Buf};
use crate::{Args, Reaper};

const DIR: i32 = 3;
const LISTEN: i32 = 5;
const EXIT: i32 = 6;
const FIRST_TERM: i32 = 7;
const MAX_TERMS: usize = 17;
const MAX_CLIENTS: usize = 32;
const CHUNK: usize = 4096;

#[derive(Clone, Copy)]
struct Term {
    master: i32,
    /// Read errors other than EAGAIN: the terminal is given up.
    dead: bool,
}

#[derive(Clone, Copy)]
struct Client {
    fd: i32,
    /// -1 while its request line is still coming.
    term: i32,
    line: [u8; 64],
    len: usize,
}

const NO_CLIENT: Client = Client {
    fd: -1,
    term: -1,
    line: [0; 64],
    len: 0,
};

struct Log {
    fd: i32,
    written: usize,
    half: usize,
}

impl Log {
    fn open(max: usize) -> Log {
        let mut log = Log {
            fd: -1,
            written: 0,
            half: max / 2,
        };
        if log.half > 0 {
            let flags = sys::O_WRONLY | sys::O_CREAT | sys::O_APPEND;
            log.fd = sys::openat(DIR, b"console.log\0", flags, 0o600).map_or(-1, |f| f as i32);
            log.written = sys::lseek_end(log.fd).unwrap_or(0);
        }
        log
    }

    fn append(&mut self, data: &[u8]) {
        if self.fd < 0 {
            return;
        }
        if sys::write_all(self.fd, data).is_err() {
            return;
        }
        self.written += data.len();
        if self.written >= self.half {
            // the older half survives as console.log.0
            let _ = sys::rename_in(DIR, b"console.log\0", b"console.log.0\0");
            sys::close(self.fd);
            let flags = sys::O_WRONLY | sys::O_CREAT | sys::O_APPEND | sys::O_TRUNC;
            self.fd = sys::openat(DIR, b"console.log\0", flags, 0o600).map_or(-1, |f| f as i32);
            self.written = 0;
        }
    }
}

struct Monitor {
    terms: [Term; MAX_TERMS],
    nterms: usize,
    clients: [Client; MAX_CLIENTS],
    log: Log,
}

pub fn run(args: &Args) -> ! {
    let nterms = (args.num(3) as usize).min(MAX_TERMS);
    let first = args.num(5) as i32;
    sys::close_from((FIRST_TERM as usize + 2 * nterms) as u32);
    let Ok(sigfd) = sys::sigchld_fd() else {
        sys::exit(3)
    };
    let mut m = Monitor {
        terms: [Term {
            master: -1,
            dead: true,
        }; MAX_TERMS],
        nterms,
        clients: [NO_CLIENT; MAX_CLIENTS],
        log: Log::open(args.num(4) as usize),
    };
    for i in 0..nterms {
        let master = FIRST_TERM + 2 * i as i32;
        sys::set_nonblock(master);
        m.terms[i] = Term {
            master,
            dead: false,
        };
    }
    sys::set_nonblock(LISTEN);
    let mut reaper = Reaper::new(first);
    // slot: 0 sigfd, 1 listener, 2.. terminals, then clients
    let mut fds: [PollFd; 2 + MAX_TERMS + MAX_CLIENTS] =
        core::array::from_fn(|_| PollFd { fd: -1, events: 0, revents: 0 });
    loop {
        if reaper.reap_all() {
            break;
        }
        fds[0] = PollFd { fd: sigfd as i32, events: POLLIN, revents: 0 };
        fds[1] = PollFd { fd: LISTEN, events: POLLIN, revents: 0 };
        for i in 0..MAX_TERMS {
            let t = m.terms[i];
            let fd = if i < m.nterms && !t.dead { t.master } else { -1 };
            fds[2 + i] = PollFd { fd, events: POLLIN, revents: 0 };
        }
        for i in 0..MAX_CLIENTS {
            fds[2 + MAX_TERMS + i] = PollFd { fd: m.clients[i].fd, events: POLLIN, revents: 0 };
        }
        if sys::poll(&mut fds).is_err() {
            continue;
        }
        if fds[0].revents != 0 {
            let mut junk = [0u8; 128];
            while sys::read(sigfd as i32, &mut junk).is_ok() {}
        }
        if fds[1].revents & POLLIN != 0 {
            m.accept();
        }
        for i in 0..m.nterms {
            if fds[2 + i].revents != 0 {
                m.drain_term(i);
            }
        }
        for i in 0..MAX_CLIENTS {
            if fds[2 + MAX_TERMS + i].revents != 0 {
                m.client_ready(i);
            }
        }
    }
    // the container is gone: record the end, keep what it printed last
    write_exit(&reaper);
    for i in 0..m.nterms {
        m.drain_term(i);
    }
    sys::exit(0)
}

impl Monitor {
    fn accept(&mut self) {
        while let Ok(fd) = sys::accept(LISTEN) {
            let fd = fd as i32;
            let slot = match self.clients.iter().position(|c| c.fd < 0) {
                Some(s) => s,
                None => match self.clients.iter().position(|c| c.term < 0) {
                    // full: the oldest that never said what it wants goes
                    Some(s) => {
                        sys::close(self.clients[s].fd);
                        s
                    }
                    None => {
                        let _ = sys::send(fd, b"err busy\n", sys::MSG_DONTWAIT | sys::MSG_NOSIGNAL);
                        sys::close(fd);
                        continue;
                    }
                },
            };
            self.clients[slot] = Client { fd, ..NO_CLIENT };
        }
    }

    /// Read what terminal `i` has and hand it on (log, attachers).
    fn drain_term(&mut self, i: usize) {
        let mut buf = [0u8; CHUNK];
        loop {
            let n = match sys::read(self.terms[i].master, &mut buf) {
                Ok(0) => return,
                Ok(n) => n,
                Err(sys::EINTR) => continue,
                Err(sys::EAGAIN) => return,
                Err(_) => {
                    self.terms[i].dead = true;
                    return;
                }
            };
            let data = &buf[..n];
            if i == 0 {
                self.log.append(data);
            }
            for c in self.clients.iter_mut() {
                if c.fd >= 0 && c.term == i as i32 {
                    match sys::send(c.fd, data, sys::MSG_DONTWAIT | sys::MSG_NOSIGNAL) {
                        // a slow attacher loses output; the container never waits
                        Ok(_) | Err(sys::EAGAIN) => {}
                        Err(_) => {
                            sys::close(c.fd);
                            *c = NO_CLIENT;
                        }
                    }
                }
            }
        }
    }

    fn client_ready(&mut self, i: usize) {
        let c = &mut self.clients[i];
        if c.term >= 0 {
            let mut buf = [0u8; CHUNK];
            match sys::read(c.fd, &mut buf) {
                Ok(0) => self.drop_client(i),
                Ok(n) => {
                    let t = self.terms[c.term as usize];
                    if !t.dead {
                        // input the container does not read is dropped
                        let _ = sys::write(t.master, &buf[..n]);
                    }
                }
                Err(sys::EAGAIN) | Err(sys::EINTR) => {}
                Err(_) => self.drop_client(i),
            }
            return;
        }
        let room = c.line.len() - c.len;
        let got = {
            let (fd, len) = (c.fd, c.len);
            sys::read(fd, &mut c.line[len..len + room])
        };
        match got {
            Ok(0) => self.drop_client(i),
            Ok(n) => {
                c.len += n;
                if let Some(end) = c.line[..c.len].iter().position(|&b| b == b'\n') {
                    let mut line = [0u8; 64];
                    line[..end].copy_from_slice(&c.line[..end]);
                    self.request(i, &line[..end]);
                } else if c.len == c.line.len() {
                    self.drop_client(i);
                }
            }
            Err(sys::EAGAIN) | Err(sys::EINTR) => {}
            Err(_) => self.drop_client(i),
        }
    }

    fn request(&mut self, i: usize, line: &[u8]) {
        let (w, n) = text::words::<4>(line);
        let term = text::parse(w[1]).map(|t| t as usize).filter(|&t| t < self.nterms);
        let fd = self.clients[i].fd;
        let reply = |msg: &[u8]| {
            let _ = sys::send(fd, msg, sys::MSG_DONTWAIT | sys::MSG_NOSIGNAL);
        };
        match (w[0], term) {
            (_, None) if n >= 2 => {
                reply(b"err no such terminal\n");
                self.drop_client(i);
            }
            (b"attach", Some(t)) if n == 2 => {
                reply(b"ok\n");
                self.clients[i].term = t as i32;
            }
            (b"resize", Some(t)) if n == 4 => {
                const TIOCSWINSZ: usize = 0x5414;
                let rows = text::parse(w[2]).unwrap_or(0) as u16;
                let cols = text::parse(w[3]).unwrap_or(0) as u16;
                let ws: [u16; 4] = [rows, cols, 0, 0];
                match sys::ioctl(self.terms[t].master, TIOCSWINSZ, ws.as_ptr() as usize) {
                    Ok(_) => reply(b"ok\n"),
                    Err(_) => reply(b"err resize failed\n"),
                }
                self.drop_client(i);
            }
            _ => {
                reply(b"err bad request\n");
                self.drop_client(i);
            }
        }
    }

    fn drop_client(&mut self, i: usize) {
        if self.clients[i].fd >= 0 {
            sys::close(self.clients[i].fd);
        }
        self.clients[i] = NO_CLIENT;
    }
}

/// The record, in one write to the `exit` file (empty until now). A state
/// directory already removed (a forced delete) is fine.
fn write_exit(reaper: &Reaper) {
    let mut b = Buf::<96>::new();
    reaper.describe(&mut b);
    b.push(b"at ");
    b.num(sys::now());
    b.push(b"\n");
    let _ = sys::pwrite_start(EXIT, b.bytes());
}

// POLLHUP, POLLERR and POLLNVAL come without being asked for; every
// handler above reads and so sees the condition behind them.
const _: i16 = POLLHUP | POLLERR | POLLNVAL;
