//! The files camloop writes — recordings and reports — in folders other users may be able to
//! write to: never through a symbolic link, never into a file camloop did not create. Each is a
//! new file made beside its target (`O_EXCL`, `O_NOFOLLOW`) and renamed over it, which replaces
//! the name and leaves whatever it named (a link's target, a hard link's other names) untouched.
//! The files it reads (its config) are taken only when they are regular files of a sane size.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A new, empty file at `path`, in place at once (a recording that grows while it is read).
pub fn create(path: &Path) -> std::io::Result<File> {
    let (file, temporary) = fresh_beside(path)?;
    put_in_place(&temporary, path)?;
    Ok(file)
}

/// `bytes` at `path`, all or nothing: readers see the old file or the new one, never a part.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let (mut file, temporary) = fresh_beside(path)?;
    if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_all()) {
        let _ = std::fs::remove_file(&temporary);
        return Err(e);
    }
    put_in_place(&temporary, path)
}

/// The text of the regular file at `path`, refused if it is larger than `limit` bytes. A FIFO, a
/// device or a folder is refused without being read (and a FIFO is opened without waiting for a
/// writer), so no path makes camloop read forever.
pub fn read_regular(path: &Path, limit: u64) -> std::io::Result<String> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a folder"
        } else {
            "not a regular file"
        };
        return Err(std::io::Error::other(format!(
            "it is {what}: give the path of a TOML file"
        )));
    }
    let mut text = String::new();
    // Read to one byte past the limit: a file that grows while it is read is bounded too.
    file.take(limit + 1).read_to_string(&mut text)?;
    if text.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "it is larger than {} KiB",
            limit / 1024
        )));
    }
    Ok(text)
}

/// A new name beside `path` for what is made before it is renamed into place: hidden, and
/// random, so that nobody can plant a file at it beforehand. Always the same length.
pub fn temporary_beside(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.{:016x}", rand::random::<u64>()))
}

fn fresh_beside(path: &Path) -> std::io::Result<(File, PathBuf)> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(std::io::Error::other(
            "it is a symbolic link, and camloop does not write through links: give the real path",
        ));
    }
    path.file_name()
        .ok_or_else(|| std::io::Error::other("the path names no file"))?;
    let temporary = temporary_beside(path);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o644)
        .open(&temporary)?;
    Ok((file, temporary))
}

fn put_in_place(temporary: &Path, path: &Path) -> std::io::Result<()> {
    std::fs::rename(temporary, path).inspect_err(|_| {
        let _ = std::fs::remove_file(temporary);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("camloop-files-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_symbolic_link_is_refused_and_its_target_untouched() {
        let dir = folder("link");
        let target = dir.join("precious");
        std::fs::write(&target, "keep me").unwrap();
        let link = dir.join("stats.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let refused = write_atomically(&link, b"{}").unwrap_err();
        assert!(refused.to_string().contains("symbolic link"), "{refused}");
        assert!(create(&link).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            2,
            "no temporary left"
        );
    }

    #[test]
    fn a_hard_link_to_another_file_is_replaced_not_written_into() {
        let dir = folder("hard");
        let other = dir.join("someone-elses");
        std::fs::write(&other, "theirs").unwrap();
        let path = dir.join("remote.wav");
        std::fs::hard_link(&other, &path).unwrap();
        let mut file = create(&path).unwrap();
        file.write_all(b"ours").unwrap();
        assert_eq!(std::fs::read_to_string(&other).unwrap(), "theirs");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "ours");
    }

    #[test]
    fn an_atomic_write_replaces_the_old_report_whole() {
        let dir = folder("atomic");
        let path = dir.join("stats.json");
        write_atomically(&path, b"old").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    }
}
