//! A buffered byte reader that knows the line and column of the next byte, for error messages.
//! Payloads may hold line feeds; they count as lines, as in an editor.

use std::io::{self, Read};

const BUF: usize = 256 << 10;

pub(crate) struct Input<R> {
    r: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    line: u64,
    col: u64,
}

/// Where a token scan stopped.
pub(crate) enum Stop {
    /// At this delimiter byte, which is not consumed.
    At(u8),
    Eof,
    /// The token reached the size limit without a delimiter.
    TooLong,
}

impl<R: Read> Input<R> {
    pub fn new(r: R) -> Self {
        Input {
            r,
            buf: vec![0; BUF].into_boxed_slice(),
            pos: 0,
            end: 0,
            line: 1,
            col: 1,
        }
    }

    /// (line, column) of the next byte, both from 1.
    pub fn pos(&self) -> (u64, u64) {
        (self.line, self.col)
    }

    /// Makes at least one byte available; false at end of input.
    fn fill(&mut self) -> io::Result<bool> {
        if self.pos < self.end {
            return Ok(true);
        }
        loop {
            match self.r.read(&mut self.buf) {
                Ok(n) => {
                    self.pos = 0;
                    self.end = n;
                    return Ok(n > 0);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// At least `n` bytes ahead (fewer only at end of input), without consuming them.
    pub fn peek_n(&mut self, n: usize) -> io::Result<&[u8]> {
        debug_assert!(n <= self.buf.len());
        if self.end - self.pos < n {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
            while self.end < n {
                match self.r.read(&mut self.buf[self.end..]) {
                    Ok(0) => break,
                    Ok(k) => self.end += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(&self.buf[self.pos..self.end])
    }

    /// The bytes read and not yet consumed.
    pub fn window(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    /// Reads once more after what the window holds, moving it to the front of the buffer
    /// first; false at end of input or when the window already fills the buffer.
    pub fn more(&mut self) -> io::Result<bool> {
        let have = self.end - self.pos;
        if have == self.buf.len() {
            return Ok(false);
        }
        // One byte more than the window is one read more.
        Ok(self.peek_n(have + 1)?.len() > have)
    }

    /// Consumes the first `n` bytes of the window, which end with a line feed.
    pub fn consume_lines(&mut self, n: usize) {
        let done = &self.buf[self.pos..self.pos + n];
        debug_assert_eq!(done.last(), Some(&b'\n'));
        self.line += count_lf(done);
        self.col = 1;
        self.pos += n;
    }

    pub fn peek(&mut self) -> io::Result<Option<u8>> {
        Ok(if self.fill()? {
            Some(self.buf[self.pos])
        } else {
            None
        })
    }

    /// Consumes the next byte if it is `c`.
    #[inline]
    pub fn eat(&mut self, c: u8) -> io::Result<bool> {
        if (self.pos < self.end || self.fill()?) && self.buf[self.pos] == c {
            self.pos += 1;
            if c == b'\n' {
                self.line += 1;
                self.col = 1;
            } else {
                self.col += 1;
            }
            return Ok(true);
        }
        Ok(false)
    }

    /// Consumes `s` if the input continues with it; false (and nothing consumed) otherwise.
    /// `s` holds no LF and is at most a few bytes.
    pub fn eat_str(&mut self, s: &[u8]) -> io::Result<bool> {
        if self.peek_n(s.len())?.starts_with(s) {
            self.pos += s.len();
            self.col += s.len() as u64;
            return Ok(true);
        }
        Ok(false)
    }

    /// Consumes a line start `<lead> <letter> `, or `<lead> <letter>! ` where `bang` allows
    /// it, when the input has one, returning the letter and whether the `!` was there; anything
    /// else is left for the caller's slower path, which names the problem.
    #[inline]
    pub fn line_start(&mut self, lead: u8, bang: bool) -> io::Result<Option<(u8, bool)>> {
        let b = self.peek_n(5)?;
        if b.len() < 4 || b[0] != lead || b[1] != b' ' || matches!(b[2], b' ' | b'\n' | b'!') {
            return Ok(None);
        }
        let (letter, n, bang) = match (b[3], b.get(4)) {
            (b' ', _) => (b[2], 4, false),
            (b'!', Some(b' ')) if bang => (b[2], 5, true),
            _ => return Ok(None),
        };
        self.pos += n;
        self.col += n as u64;
        Ok(Some((letter, bang)))
    }

    pub fn bump(&mut self) -> io::Result<Option<u8>> {
        if !self.fill()? {
            return Ok(None);
        }
        let c = self.buf[self.pos];
        self.pos += 1;
        advance(&mut self.line, &mut self.col, &[c]);
        Ok(Some(c))
    }

    /// Appends bytes to `out` up to (not including) the first LF, or the first space too when
    /// `space_ends` is set. With `unescape`, a backslash is dropped and the byte after it taken
    /// literally. At most `max` bytes are appended.
    pub fn token(
        &mut self,
        out: &mut Vec<u8>,
        unescape: bool,
        max: usize,
        space_ends: bool,
    ) -> io::Result<Stop> {
        let start_len = out.len();
        loop {
            if !self.fill()? {
                return Ok(Stop::Eof);
            }
            let avail = &self.buf[self.pos..self.end];
            let found = match (unescape, space_ends) {
                (true, true) => memchr::memchr3(b' ', b'\n', b'\\', avail),
                (true, false) => memchr::memchr2(b'\n', b'\\', avail),
                (false, true) => memchr::memchr2(b' ', b'\n', avail),
                (false, false) => memchr::memchr(b'\n', avail),
            };
            let n = found.unwrap_or(avail.len());
            let room = max - (out.len() - start_len);
            if n > room {
                out.extend_from_slice(&avail[..room]);
                self.pos += room;
                self.advance_cols_only(room);
                return Ok(Stop::TooLong);
            }
            out.extend_from_slice(&avail[..n]);
            self.pos += n;
            self.advance_cols_only(n);
            if found.is_none() {
                continue;
            }
            let c = self.buf[self.pos];
            if !(unescape && c == b'\\') {
                return Ok(Stop::At(c));
            }
            self.bump()?; // the backslash itself
            match self.bump()? {
                Some(_) if out.len() - start_len >= max => return Ok(Stop::TooLong),
                Some(e) => out.push(e),
                None => return Ok(Stop::Eof),
            }
        }
    }

    /// Tokens hold no unescaped LF; escaped LFs go through `bump`, which counts lines.
    fn advance_cols_only(&mut self, n: usize) {
        self.col += n as u64;
    }

    /// Appends exactly `n` bytes to `out`, growing it only as data arrives (a huge claimed length
    /// fails at end of input instead of allocating). Returns how many bytes were appended.
    pub fn bytes(&mut self, n: u64, out: &mut Vec<u8>) -> io::Result<u64> {
        let mut left = n;
        while left > 0 {
            if !self.fill()? {
                break;
            }
            let take = (self.end - self.pos).min(left.min(usize::MAX as u64) as usize);
            let chunk = &self.buf[self.pos..self.pos + take];
            out.extend_from_slice(chunk);
            advance(&mut self.line, &mut self.col, chunk);
            self.pos += take;
            left -= take as u64;
        }
        Ok(n - left)
    }
}

/// The line feeds in `b`, counted in byte-wide lanes, which the compiler vectorizes 32 bytes a
/// step (a count into a u64 goes 4 bytes a step).
fn count_lf(b: &[u8]) -> u64 {
    b.chunks(255)
        .map(|chunk| chunk.iter().fold(0u8, |n, &c| n + (c == b'\n') as u8) as u64)
        .sum()
}

/// Moves a (line, column) position over `consumed`.
fn advance(line: &mut u64, col: &mut u64, consumed: &[u8]) {
    match memchr::memrchr(b'\n', consumed) {
        None => *col += consumed.len() as u64,
        Some(last) => {
            *line += count_lf(consumed);
            *col = (consumed.len() - last) as u64;
        }
    }
}
