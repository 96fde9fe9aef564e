//! Appending to the active segment around the page cache.
//!
//! The log is written once and read rarely, so its bytes need not pass through the page
//! cache: each write goes from one reused buffer straight to the device (`O_DIRECT`). That
//! saves the kernel's copy of every byte into fresh cache pages, which costs more than the
//! hashing, and leaves the cache to the pages searches read.
//!
//! Direct writes cover whole blocks at block-aligned offsets. The bytes of the last, partly
//! filled block stay in the buffer and are written again, with what follows them, by the
//! next write; until then the block is padded with zeros. So the active segment's file may
//! end in up to one block of zeros: recovery and verification know them as an unfinished
//! write, and sealing cuts them off before the segment is synced for the last time.
//!
//! Where the file system refuses direct writes (tmpfs, some network file systems), or on
//! systems without them, the writer appends through the page cache as before.

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
}

impl Direct {
    /// Open `path`, whose first `len` bytes are the segment so far, for direct appends.
    /// `None` where the file system or the system does not offer them.
    pub(crate) fn open(path: &Path, len: u64) -> io::Result<Option<Direct>> {
        let Some(file) = open_direct(path)? else {
            return Ok(None);
        };
        let mut stage = vec![0u8; WINDOW + 2 * BLOCK];
        let at = stage.as_ptr().align_offset(BLOCK);
        if at >= BLOCK {
            return Ok(None);
        }
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
        Ok(Some(Direct {
            file,
            stage,
            at,
            carried,
            base,
        }))
    }

    /// Write `data` after the bytes written so far (not yet synced: `fdatasync` on any
    /// handle of the file makes it durable).
    pub(crate) fn append(&mut self, mut data: &[u8]) -> io::Result<()> {
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
            self.base += (filled - keep) as u64;
            self.carried = keep;
            data = rest;
        }
        Ok(())
    }
}

#[cfg(target_os = "linux")]
fn open_direct(path: &Path) -> io::Result<Option<File>> {
    use std::os::unix::fs::OpenOptionsExt;
    let flags = i32::try_from(rustix::fs::OFlags::DIRECT.bits()).unwrap_or(0);
    match std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(flags)
        .open(path)
    {
        Ok(f) => Ok(Some(f)),
        // The file system does not offer direct writes.
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn open_direct(_: &Path) -> io::Result<Option<File>> {
    Ok(None)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

    use super::*;

    #[test]
    fn appends_land_where_the_bytes_say_and_pad_one_block_at_most() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg");
        std::fs::write(&path, b"head").unwrap();
        let Some(mut d) = Direct::open(&path, 4).unwrap() else {
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
            let piece: Vec<u8> = (0..n).map(|j| (i * 31 + j % 251 + 1) as u8).collect();
            d.append(&piece).unwrap();
            want.extend_from_slice(&piece);
            let got = std::fs::read(&path).unwrap();
            assert_eq!(&got[..want.len()], &want[..], "after piece {i}");
            assert!(got[want.len()..].iter().all(|b| *b == 0));
            assert_eq!(got.len(), want.len().div_ceil(BLOCK) * BLOCK);
        }
        // Reopened where the bytes end, it carries the partial block on.
        drop(d);
        let mut d = Direct::open(&path, want.len() as u64).unwrap().unwrap();
        d.append(b"tail").unwrap();
        want.extend_from_slice(b"tail");
        let got = std::fs::read(&path).unwrap();
        assert_eq!(&got[..want.len()], &want[..]);
    }
}
