//! Files written and read around the page cache.
//!
//! The log is written once and read rarely, so its bytes need not pass through the page
//! cache: each write goes from one reused buffer straight to the device (`O_DIRECT`). That
//! saves the kernel's copy of every byte into fresh cache pages, which costs more than the
//! hashing, and leaves the cache to the pages searches read (index files, run tables).
//!
//! Direct writes cover whole blocks at block-aligned offsets. The bytes of the last, partly
//! filled block stay in the buffer and are written again, with what follows them, by the
//! next write; until then the block is padded with zeros. So the active segment's file may
//! end in up to one block of zeros: recovery and verification know them as an unfinished
//! write, and sealing cuts them off before the segment is synced for the last time.
//!
//! Files read once and whole — segments being verified or copied into session clusters,
//! runs being merged — are read the same way ([`read_file`], [`Source`]); run files are
//! written so ([`Sink`]).
//!
//! Where the file system refuses direct access (some network and FUSE file systems), or on
//! systems without it, files are written and read through the page cache as before.

use std::fs::File;
use std::io;
use std::path::Path;

/// The unit of direct writes: the largest logical block of common devices, and the page size.
pub(crate) const BLOCK: usize = 4096;

/// Bytes one direct write covers at most (more are written in several).
const WINDOW: usize = 1 << 20;

/// An active segment's file opened for direct appends.
#[derive(Debug)]
pub(crate) struct Direct {
    file: File,
    /// `WINDOW + BLOCK` bytes plus room to align them: the window starts at `at`.
    stage: Vec<u8>,
    at: usize,
    /// Bytes of the last, partly filled block, at the start of the window.
    carried: usize,
    /// File offset of the window's start (a multiple of [`BLOCK`]).
    base: u64,
    /// Set by a failed write: what it was to write is lost, so nothing may follow it.
    failed: bool,
    /// Writes made: a buffer made ready by [`Direct::ready`] is written in place only if
    /// none was made since.
    writes: u64,
    /// Bytes written by copying them into the stage (the rest went from where they were
    /// gathered).
    copied: u64,
}

/// Where a buffer made ready for a direct file ([`Direct::ready`]) gathers new bytes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Lead {
    /// The new bytes start here (after the file's last, partly filled block).
    pub(crate) at: usize,
    /// The file's count of writes when the buffer was made ready.
    writes: u64,
}

impl Direct {
    /// Open `path`, whose first `len` bytes are the segment so far, for direct appends.
    /// `None` where the file system or the system does not offer them.
    pub(crate) fn open(path: &Path, len: u64) -> io::Result<Option<Direct>> {
        let Some(file) = open_direct(path)? else {
            return Ok(None);
        };
        let Some((mut stage, at)) = aligned(WINDOW + BLOCK) else {
            return Ok(None);
        };
        let carried = (len % BLOCK as u64) as usize;
        let base = len - carried as u64;
        if carried > 0 {
            // The partly filled block's bytes, read through the cache (unaligned reads are
            // fine there); the next write puts them back with what follows.
            let plain = File::open(path)?;
            let window = stage
                .get_mut(at..at + carried)
                .ok_or_else(|| io::Error::other("stage too small"))?;
            std::os::unix::fs::FileExt::read_exact_at(&plain, window, base)?;
        }
        // One write now, of the partly filled block as it is (padded): a file system that
        // takes the flag but not the writes (alignment it wants larger) is found here and
        // written through the cache, rather than failing the first append.
        let block = stage
            .get(at..at + BLOCK)
            .ok_or_else(|| io::Error::other("stage too small"))?;
        match std::os::unix::fs::FileExt::write_all_at(&file, block, base) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => return Ok(None),
            Err(e) => return Err(e),
        }
        Ok(Some(Direct {
            file,
            stage,
            at,
            carried,
            base,
            failed: false,
            writes: 0,
            copied: 0,
        }))
    }

    /// Write `data` after the bytes written so far (not yet synced: `fdatasync` on any
    /// handle of the file makes it durable).
    pub(crate) fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.unless_failed(|d| d.write_on(data))
    }

    /// Run a write, unless one failed before; a failed one marks the file.
    fn unless_failed<T>(
        &mut self,
        write: impl FnOnce(&mut Self) -> io::Result<T>,
    ) -> io::Result<T> {
        if self.failed {
            return Err(io::Error::other("an earlier write to this file failed"));
        }
        let r = write(self);
        self.failed = r.is_err();
        r
    }

    /// After a write of `filled` bytes from the window's start: the last `keep` of them, a
    /// partly filled block, are carried to the next (already at the stage's start).
    fn wrote(&mut self, filled: usize, keep: usize) {
        self.base += (filled - keep) as u64;
        self.carried = keep;
        self.writes += 1;
    }

    /// Empty `buf` and put the file's last, partly filled block in it at an aligned place,
    /// so that bytes gathered after it can be written from `buf` as they are
    /// ([`Direct::append_from`]). `buf` keeps its capacity.
    pub(crate) fn ready(&self, buf: &mut Vec<u8>) -> Lead {
        buf.clear();
        let at = buf.as_ptr().align_offset(BLOCK);
        if at < BLOCK && buf.capacity() >= at + BLOCK {
            buf.resize(at, 0);
        }
        buf.extend_from_slice(
            self.stage
                .get(self.at..self.at + self.carried)
                .unwrap_or_default(),
        );
        Lead {
            at: buf.len(),
            writes: self.writes,
        }
    }

    /// Write `buf[lead.at..]` after the bytes written so far, and make `buf` ready for the
    /// next ([`Direct::ready`]). When nothing was written since `buf` was made ready and its
    /// capacity holds the zero padding, the bytes go to the device from `buf` itself, with
    /// the partly filled block before them; otherwise they are copied, as by
    /// [`Direct::append`].
    pub(crate) fn append_from(&mut self, buf: &mut Vec<u8>, lead: Lead) -> io::Result<Lead> {
        self.unless_failed(|d| d.write_from(buf, lead))
    }

    fn write_from(&mut self, buf: &mut Vec<u8>, lead: Lead) -> io::Result<Lead> {
        let start = lead.at.saturating_sub(self.carried);
        let filled = buf.len().saturating_sub(start);
        let padded = filled.div_ceil(BLOCK) * BLOCK;
        let in_place = lead.writes == self.writes
            && lead.at >= self.carried
            && (buf.as_ptr() as usize)
                .wrapping_add(start)
                .is_multiple_of(BLOCK)
            && buf.capacity() >= start + padded;
        if !in_place {
            self.write_on(buf.get(lead.at..).unwrap_or_default())?;
            return Ok(self.ready(buf));
        }
        buf.resize(start + padded, 0);
        let window = buf
            .get(start..)
            .ok_or_else(|| io::Error::other("buffer too small"))?;
        std::os::unix::fs::FileExt::write_all_at(&self.file, window, self.base)?;
        let keep = filled % BLOCK;
        let tail = start + filled - keep..start + filled;
        if let (Some(to), Some(from)) = (
            self.stage.get_mut(self.at..self.at + keep),
            buf.get(tail.clone()),
        ) {
            to.copy_from_slice(from);
        }
        self.wrote(filled, keep);
        Ok(self.ready(buf))
    }

    fn write_on(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let take = data.len().min(WINDOW - self.carried);
            let (now, rest) = data.split_at(take);
            let filled = self.carried + take;
            let padded = filled.div_ceil(BLOCK) * BLOCK;
            let window = self
                .stage
                .get_mut(self.at..self.at + padded)
                .ok_or_else(|| io::Error::other("stage too small"))?;
            let (used, pad) = window.split_at_mut(filled);
            used.get_mut(self.carried..)
                .unwrap_or_default()
                .copy_from_slice(now);
            pad.fill(0);
            std::os::unix::fs::FileExt::write_all_at(&self.file, window, self.base)?;
            let keep = filled % BLOCK;
            window.copy_within(filled - keep..filled, 0);
            self.wrote(filled, keep);
            self.copied += take as u64;
            data = rest;
        }
        Ok(())
    }
}

/// A new file written sequentially, directly where the file system allows it (gathered
/// into writes of [`WINDOW`] bytes), through a buffer in the page cache otherwise.
#[derive(Debug)]
pub(crate) enum Sink {
    Cached(std::io::BufWriter<File>),
    Direct {
        file: File,
        direct: Direct,
        buf: Vec<u8>,
    },
}

impl Sink {
    /// Create (or empty) `path`.
    pub(crate) fn create(path: &Path, direct: bool) -> io::Result<Sink> {
        let file = File::create(path)?;
        if direct && let Some(d) = Direct::open(path, 0)? {
            return Ok(Sink::Direct {
                file,
                direct: d,
                buf: Vec::with_capacity(WINDOW),
            });
        }
        Ok(Sink::Cached(std::io::BufWriter::with_capacity(
            WINDOW, file,
        )))
    }

    /// Write what is gathered and return the file, `len` bytes long (not yet synced).
    pub(crate) fn finish(self, len: u64) -> io::Result<File> {
        match self {
            Sink::Cached(w) => w.into_inner().map_err(io::IntoInnerError::into_error),
            Sink::Direct {
                file,
                mut direct,
                buf,
            } => {
                direct.append(&buf)?;
                // The last block's zero padding.
                file.set_len(len)?;
                Ok(file)
            }
        }
    }
}

impl io::Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Cached(w) => w.write(bytes),
            // Large writes go straight to the file, smaller ones are gathered into large.
            Sink::Direct { direct, buf, .. } if bytes.len() >= WINDOW => {
                direct.append(buf)?;
                buf.clear();
                direct.append(bytes)?;
                Ok(bytes.len())
            }
            Sink::Direct { direct, buf, .. } => {
                buf.extend_from_slice(bytes);
                if buf.len() >= WINDOW {
                    direct.append(buf)?;
                    buf.clear();
                }
                Ok(bytes.len())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Cached(w) => w.flush(),
            // Only whole writes are made: the rest waits for `finish`.
            Sink::Direct { .. } => Ok(()),
        }
    }
}

/// The first `end` bytes of a file, read in order: directly, into one reused buffer, where
/// the file system allows it (a file read once, as a whole, need not pass through the page
/// cache), through a buffer in the cache otherwise.
#[derive(Debug)]
pub(crate) enum Source {
    Cached(std::io::BufReader<std::io::Take<File>>),
    Direct {
        file: File,
        stage: Vec<u8>,
        /// The window's start in `stage` (aligned).
        at: usize,
        /// Bytes of the window not yet handed out: `stage[lo..hi]`.
        lo: usize,
        hi: usize,
        /// File offset of the next read (a multiple of [`BLOCK`]).
        pos: u64,
        end: u64,
    },
}

impl Source {
    pub(crate) fn open(path: &Path, end: u64, direct: bool) -> io::Result<Source> {
        if direct && let Some(file) = open_direct_read(path)? {
            // One read first: a file system that takes the flag but not the reads is read
            // through the cache.
            if let Some((mut stage, at)) = aligned(WINDOW)
                && stage
                    .get_mut(at..at + BLOCK)
                    .is_some_and(|b| std::os::unix::fs::FileExt::read_at(&file, b, 0).is_ok())
            {
                return Ok(Source::Direct {
                    file,
                    stage,
                    at,
                    lo: 0,
                    hi: 0,
                    pos: 0,
                    end,
                });
            }
        }
        let file = File::open(path)?;
        Ok(Source::Cached(std::io::BufReader::with_capacity(
            WINDOW,
            io::Read::take(file, end),
        )))
    }
}

impl io::Read for Source {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Cached(r) => r.read(out),
            Source::Direct {
                file,
                stage,
                at,
                lo,
                hi,
                pos,
                end,
            } => {
                if lo == hi {
                    if *pos >= *end {
                        return Ok(0);
                    }
                    let want = (*end - *pos).min(WINDOW as u64) as usize;
                    let window = stage
                        .get_mut(*at..*at + want.div_ceil(BLOCK) * BLOCK)
                        .ok_or_else(|| io::Error::other("stage too small"))?;
                    let n = std::os::unix::fs::FileExt::read_at(file, window, *pos)?;
                    if n == 0 {
                        return Ok(0);
                    }
                    // A read short of a block boundary ends the file: nothing follows it.
                    let n = n.min(want);
                    *pos += if n % BLOCK == 0 {
                        n as u64
                    } else {
                        *end - *pos
                    };
                    (*lo, *hi) = (*at, *at + n);
                }
                let n = out.len().min(*hi - *lo);
                let (dst, src) = (out.get_mut(..n), stage.get(*lo..*lo + n));
                if let (Some(dst), Some(src)) = (dst, src) {
                    dst.copy_from_slice(src);
                }
                *lo += n;
                Ok(n)
            }
        }
    }
}

/// A whole file's bytes, read straight into memory where the file system allows it (a file
/// read once, as a whole, need not pass through the page cache).
#[derive(Debug)]
pub(crate) struct Whole {
    buf: Vec<u8>,
    at: usize,
    len: usize,
}

impl std::ops::Deref for Whole {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.buf
            .get(self.at..self.at + self.len)
            .unwrap_or_default()
    }
}

impl From<Vec<u8>> for Whole {
    fn from(buf: Vec<u8>) -> Whole {
        let len = buf.len();
        Whole { buf, at: 0, len }
    }
}

/// Read all of `path`: directly where `direct` and the file system allow it, through the page
/// cache otherwise.
pub(crate) fn read_file(path: &Path, direct: bool) -> io::Result<Whole> {
    const CHUNK: usize = 8 << 20;
    if !direct {
        return Ok(Whole::from(std::fs::read(path)?));
    }
    if let Some(file) = open_direct_read(path)? {
        let len = usize::try_from(file.metadata()?.len()).map_err(io::Error::other)?;
        if let Some((mut buf, at)) = aligned(len.div_ceil(BLOCK) * BLOCK) {
            let mut done = 0;
            while done < len {
                let want = (len - done).min(CHUNK).div_ceil(BLOCK) * BLOCK;
                let window = buf
                    .get_mut(at + done..at + done + want)
                    .ok_or_else(|| io::Error::other("buffer too small"))?;
                let n = match std::os::unix::fs::FileExt::read_at(&file, window, done as u64) {
                    Ok(n) => n,
                    // The file system takes the flag but not the reads.
                    Err(e) if e.kind() == io::ErrorKind::InvalidInput && done == 0 => {
                        return Ok(Whole::from(std::fs::read(path)?));
                    }
                    Err(e) => return Err(e),
                };
                done += n;
                if n == 0 || n % BLOCK != 0 {
                    // The end of the file (it may have grown or shrunk since it was sized).
                    break;
                }
            }
            let len = done.min(len);
            return Ok(Whole { buf, at, len });
        }
    }
    Ok(Whole::from(std::fs::read(path)?))
}

/// A zeroed buffer holding `len` bytes from a block-aligned start, and that start.
fn aligned(len: usize) -> Option<(Vec<u8>, usize)> {
    let buf = vec![0u8; len + BLOCK];
    let at = buf.as_ptr().align_offset(BLOCK);
    (at < BLOCK).then_some((buf, at))
}

fn open_direct_read(path: &Path) -> io::Result<Option<File>> {
    open_with_flag(path, std::fs::OpenOptions::new().read(true))
}

fn open_direct(path: &Path) -> io::Result<Option<File>> {
    open_with_flag(path, std::fs::OpenOptions::new().write(true))
}

/// Open `path` as `how` says, for direct access; `None` where the file system does not
/// offer it.
#[cfg(target_os = "linux")]
fn open_with_flag(path: &Path, how: &mut std::fs::OpenOptions) -> io::Result<Option<File>> {
    use std::os::unix::fs::OpenOptionsExt;
    let flags = i32::try_from(rustix::fs::OFlags::DIRECT.bits()).unwrap_or(0);
    match how.custom_flags(flags).open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn open_with_flag(_: &Path, _: &mut std::fs::OpenOptions) -> io::Result<Option<File>> {
    Ok(None)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

    use super::*;

    /// A file holding `head` in a new directory, opened for direct appends (`None` where
    /// the file system has none: nothing to check there).
    fn opened_after_head() -> Option<(tempfile::TempDir, std::path::PathBuf, Direct)> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg");
        std::fs::write(&path, b"head").unwrap();
        let d = Direct::open(&path, 4).unwrap()?;
        Some((dir, path, d))
    }

    /// Piece `i` of a test, `n` bytes.
    fn piece(i: usize, n: usize) -> Vec<u8> {
        (0..n).map(|j| (i * 31 + j % 251 + 1) as u8).collect()
    }

    /// The file holds `want`, then zeros to the end of its last block.
    fn holds_padded(path: &Path, want: &[u8], after: usize) {
        let got = std::fs::read(path).unwrap();
        assert_eq!(&got[..want.len()], want, "after piece {after}");
        assert!(got[want.len()..].iter().all(|b| *b == 0));
        assert_eq!(got.len(), want.len().div_ceil(BLOCK) * BLOCK);
    }

    #[test]
    fn appends_land_where_the_bytes_say_and_pad_one_block_at_most() {
        let Some((_dir, path, mut d)) = opened_after_head() else {
            // This file system has no direct writes: nothing to check here.
            return;
        };
        let mut want = b"head".to_vec();
        // Small pieces, pieces ending on a block, and one larger than the window.
        let sizes = [
            1,
            7,
            BLOCK - 12,
            BLOCK,
            3 * BLOCK + 5,
            WINDOW + 3 * BLOCK + 11,
            2,
        ];
        for (i, n) in sizes.into_iter().enumerate() {
            let piece = piece(i, n);
            d.append(&piece).unwrap();
            want.extend_from_slice(&piece);
            holds_padded(&path, &want, i);
        }
        // Reopened where the bytes end, it carries the partial block on.
        drop(d);
        let mut d = Direct::open(&path, want.len() as u64).unwrap().unwrap();
        d.append(b"tail").unwrap();
        want.extend_from_slice(b"tail");
        let got = std::fs::read(&path).unwrap();
        assert_eq!(&got[..want.len()], &want[..]);
    }

    /// Bytes gathered after a partly filled block go from the buffer itself when nothing
    /// else was written since it was made ready, and are copied otherwise (another write came
    /// between, or the buffer grew past its capacity): either way the file holds them where
    /// plain appends would have put them.
    #[test]
    fn bytes_gathered_in_place_land_where_appends_would() {
        let Some((_dir, path, mut d)) = opened_after_head() else {
            return;
        };
        let mut want = b"head".to_vec();
        let mut buf = Vec::with_capacity(64 * 1024);
        let mut lead = d.ready(&mut buf);
        let sizes = [1, BLOCK - 5, BLOCK, 3 * BLOCK + 5, 10_000, 100_000, 7];
        let mut in_place = 0;
        for i in 0..40usize {
            let n = sizes[i % sizes.len()];
            let piece = piece(i, n);
            let between = i % 5 == 3;
            if between {
                // Another write between, of a whole block: the file's partial block is as
                // long as the buffer's, but not the same.
                let other: Vec<u8> = (0..BLOCK).map(|j| (j % 13) as u8 + 100).collect();
                d.append(&other).unwrap();
                want.extend_from_slice(&other);
            }
            let (copied, cap) = (d.copied, buf.capacity());
            buf.extend_from_slice(&piece);
            lead = d.append_from(&mut buf, lead).unwrap();
            want.extend_from_slice(&piece);
            if d.copied == copied {
                in_place += 1;
            } else {
                assert!(between || buf.capacity() > cap, "piece {i} copied");
            }
            assert_eq!(buf.len(), lead.at);
            holds_padded(&path, &want, i);
        }
        assert!(in_place >= 20, "{in_place} pieces written in place");
        // Plain appends go on after the gathered bytes.
        d.append(b"tail").unwrap();
        want.extend_from_slice(b"tail");
        assert_eq!(&std::fs::read(&path).unwrap()[..want.len()], &want[..]);
    }

    #[test]
    fn after_a_failed_write_nothing_more_is_written() {
        let Some((_dir, path, mut d)) = opened_after_head() else {
            return;
        };
        d.append(b"one").unwrap();
        // The same state over a handle the writes fail on.
        let good = std::mem::replace(&mut d.file, File::open(&path).unwrap());
        assert!(d.append(b"two").is_err());
        d.file = good;
        // The bytes of the failed write are gone: nothing may be written after them.
        assert!(d.append(b"three").is_err());
        let got = std::fs::read(&path).unwrap();
        assert_eq!(&got[..7], b"headone");
        assert!(got[7..].iter().all(|b| *b == 0));
    }

    #[test]
    fn a_sink_leaves_exactly_what_was_written_either_way() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        for direct in [true, false] {
            let path = dir.path().join(format!("out-{direct}"));
            let mut sink = Sink::create(&path, direct).unwrap();
            let mut want = Vec::new();
            for i in 0..3000usize {
                // Small pieces gathered, and now and then one larger than a window, which
                // goes straight to the file after what was gathered.
                let len = if i % 1000 == 999 {
                    WINDOW + 1 + i
                } else {
                    (i * 7) % 1900
                };
                let piece: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
                sink.write_all(&piece).unwrap();
                want.extend_from_slice(&piece);
            }
            sink.finish(want.len() as u64).unwrap().sync_data().unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), want, "direct={direct}");
            // Read back in pieces of every size, to several ends.
            for end in [0, 1, 4096, 5000, want.len() as u64 - 3, want.len() as u64] {
                let mut src = Source::open(&path, end, direct).unwrap();
                let mut got = Vec::new();
                let mut piece = 1;
                loop {
                    let mut b = vec![0u8; piece];
                    let n = std::io::Read::read(&mut src, &mut b).unwrap();
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&b[..n]);
                    piece = piece * 3 % 70_001 + 1;
                }
                assert_eq!(got, &want[..end as usize], "direct={direct} end={end}");
            }
            assert_eq!(&*read_file(&path, direct).unwrap(), &want[..]);
            // Asking past the file's end gives what there is.
            let mut src = Source::open(&path, want.len() as u64 + 10_000, direct).unwrap();
            let mut got = Vec::new();
            std::io::Read::read_to_end(&mut src, &mut got).unwrap();
            assert_eq!(got, want);
        }
    }
}
