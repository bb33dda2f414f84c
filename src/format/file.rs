//! Model files on disk (std): atomic saves and whole-file reads.
//!
//! # Why a save cannot destroy the previous file
//! [`save_bytes`] writes to a new temporary file in the same directory, flushes it to disk
//! (`fsync`), renames it over the target, and flushes the directory. A rename within one
//! file system is atomic, so at every instant the target is either the complete old file or
//! the complete new one: a crash, a kill or a full disk during the save leaves the old file
//! (and at worst a stray `.NAME.PID-N.tmp` next to it). Without the first `fsync` a power loss
//! shortly after the rename could leave the new name pointing at unwritten blocks; without the
//! second, the rename itself could be lost.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::vec::Vec;

use super::{Checkpoint, FileError, required_bytes, write};
use crate::net::Net;

/// Encodes `net` (and `checkpoint`) as a model file in a new vector.
pub fn to_vec<M: AsRef<[f32]> + AsMut<[f32]>>(
    net: &Net<'_, M>,
    checkpoint: Option<&Checkpoint<'_>>,
) -> Result<Vec<u8>, FileError> {
    let mut bytes = std::vec![0u8; required_bytes(net, checkpoint)?];
    write(net, checkpoint, &mut bytes)?;
    Ok(bytes)
}

/// Saves `net` (and `checkpoint`) to `path` atomically (see the module documentation): the
/// previous file at `path`, if any, survives any failure.
pub fn save<M: AsRef<[f32]> + AsMut<[f32]>>(
    path: impl AsRef<Path>,
    net: &Net<'_, M>,
    checkpoint: Option<&Checkpoint<'_>>,
) -> Result<(), FileError> {
    save_bytes(path, &to_vec(net, checkpoint)?)
}

/// Reads a whole file (then parse it with [`super::ModelFile::parse`]).
pub fn read(path: impl AsRef<Path>) -> Result<Vec<u8>, FileError> {
    let path = path.as_ref();
    fs::read(path).map_err(|e| FileError::io(path, e))
}

/// Writes `bytes` to `path` atomically: temporary file, `fsync`, rename, `fsync` of the
/// directory.
pub fn save_bytes(path: impl AsRef<Path>, bytes: &[u8]) -> Result<(), FileError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let path = path.as_ref();
    let name = path.file_name().ok_or_else(|| {
        FileError::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the path has no file name",
            ),
        )
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        ".{}.{}-{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(FileError::io(&tmp, e));
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(FileError::io(path, e));
    }
    sync_dir(dir).map_err(|e| FileError::io(dir, e))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    // Windows offers no directory fsync; its rename is durable once it returns.
    Ok(())
}
