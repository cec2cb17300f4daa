//! Fixed-size text buffers and decimal numbers, without allocation.

/// A byte buffer of at most `N` bytes; pushes past the end are cut.
pub struct Buf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Buf<N> {
    pub const fn new() -> Self {
        Buf { buf: [0; N], len: 0 }
    }

    pub fn push(&mut self, b: &[u8]) {
        for &c in b {
            if self.len < N {
                self.buf[self.len] = c;
                self.len += 1;
            }
        }
    }

    pub fn num(&mut self, mut n: u64) {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&tmp[i..]);
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// A decimal number; `None` if `s` is empty or not all digits.
pub fn parse(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(n)
}

/// Split `line` at spaces into at most `K` words.
pub fn words<const K: usize>(line: &[u8]) -> ([&[u8]; K], usize) {
    let mut out: [&[u8]; K] = [b""; K];
    let mut n = 0;
    for w in line.split(|&c| c == b' ') {
        if w.is_empty() {
            continue;
        }
        if n == K {
            break;
        }
        out[n] = w;
        n += 1;
    }
    (out, n)
}
