//! The files camloop writes — recordings and reports — in folders other users may be able to
//! write to: never through a symbolic link, never into a file camloop did not create. The folder
//! is reached one component at a time without following a link (a link planted in a shared
//! folder above an output cannot send camloop's files elsewhere); each file is made new beside
//! its target (`O_EXCL`, `O_NOFOLLOW`) in that folder and renamed over it, which replaces the
//! name and leaves whatever it named (a link's target, a hard link's other names) untouched.
//! The files it reads (its config) are taken only when they are regular files of a sane size.

use nix::fcntl::{OFlag, open, openat, renameat};
use nix::sys::stat::{Mode, SFlag, fstatat};
use nix::unistd::{UnlinkatFlags, unlinkat};
use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

/// A new, empty file at `path`, in place at once (a recording that grows while it is read).
pub fn create(path: &Path) -> std::io::Result<File> {
    let fresh = Fresh::beside(path)?;
    let file = fresh.file.try_clone()?;
    fresh.put_in_place()?;
    Ok(file)
}

/// `bytes` at `path`, all or nothing: readers see the old file or the new one, never a part.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut fresh = Fresh::beside(path)?;
    fresh
        .file
        .write_all(bytes)
        .and_then(|()| fresh.file.sync_all())?;
    fresh.put_in_place()
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

/// Whether a file could be made at `path` now, reached as [`create`] reaches it: its folder
/// there without a symbolic link on the way, and the path not a folder or a link.
pub fn check_target(path: &Path) -> std::io::Result<()> {
    let (folder, name) = folder_of(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => refused(format!(
            "its folder {} is not there; make it, or give a path in a folder that is",
            path.parent().unwrap_or(Path::new(".")).display()
        )),
        _ => e,
    })?;
    match kind_at(&folder, &name) {
        Some(SFlag::S_IFDIR) => Err(refused(
            "it is a folder: give the path of a file in it".into(),
        )),
        _ => Ok(()),
    }
}

/// A refusal that a setting must change, not a failure that may pass by itself.
fn refused(why: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::PermissionDenied, why)
}

const NO_LINKS: &str =
    "is a symbolic link, and camloop does not write through links: give the real path";

fn link_refused(link: &Path) -> std::io::Error {
    refused(format!("{} {NO_LINKS}", link.display()))
}

/// What `name` in `folder` is (a folder, a link, …), the link itself not followed.
fn kind_at(folder: &OwnedFd, name: &OsStr) -> Option<SFlag> {
    let stat = fstatat(folder, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW).ok()?;
    Some(SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT)
}

fn is_link(folder: &OwnedFd, name: &OsStr) -> bool {
    kind_at(folder, name) == Some(SFlag::S_IFLNK)
}

/// The folder `path` names a file in, reached one component at a time without following a
/// symbolic link, and the file's name.
fn folder_of(path: &Path) -> std::io::Result<(OwnedFd, OsString)> {
    let name = path
        .file_name()
        .ok_or_else(|| refused("the path names no file".into()))?;
    let walk = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let mut components = path
        .parent()
        .unwrap_or(Path::new(""))
        .components()
        .peekable();
    // An absolute path's first folder is opened by its whole name, "/tmp" rather than "tmp"
    // in "/": the same folder, and under qemu-user with a sysroot (`-L`, as the aarch64 tests
    // run) a bare "/" is the sysroot's.
    let (mut folder, mut walked) = match components.peek() {
        Some(Component::RootDir) => {
            components.next();
            match components.next() {
                Some(Component::Normal(first)) => {
                    let first = Path::new("/").join(first);
                    let opened = open(&first, walk | OFlag::O_NOFOLLOW, Mode::empty());
                    match opened {
                        Ok(folder) => (folder, first),
                        Err(_)
                            if std::fs::symlink_metadata(&first)
                                .is_ok_and(|m| m.file_type().is_symlink()) =>
                        {
                            return Err(link_refused(&first));
                        }
                        Err(errno) => return Err(errno.into()),
                    }
                }
                _ => (open("/", walk, Mode::empty())?, PathBuf::from("/")),
            }
        }
        _ => (open(".", walk, Mode::empty())?, PathBuf::from(".")),
    };
    for component in components {
        let step = match component {
            Component::Normal(step) => step,
            Component::ParentDir => OsStr::new(".."),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => continue,
        };
        walked.push(step);
        folder = match openat(&folder, step, walk | OFlag::O_NOFOLLOW, Mode::empty()) {
            Ok(next) => next,
            Err(_) if is_link(&folder, step) => return Err(link_refused(&walked)),
            Err(errno) => return Err(errno.into()),
        };
    }
    if is_link(&folder, name) {
        return Err(refused(format!("it {NO_LINKS}")));
    }
    Ok((folder, name.to_owned()))
}

/// A new file beside its target, in the target's folder; removed unless put in place.
struct Fresh {
    folder: OwnedFd,
    name: OsString,
    temporary: PathBuf,
    file: File,
    placed: bool,
}

impl Fresh {
    fn beside(path: &Path) -> std::io::Result<Fresh> {
        let (folder, name) = folder_of(path)?;
        let temporary = temporary_beside(Path::new(&name));
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let file = openat(&folder, &temporary, flags, Mode::from_bits_truncate(0o644))?;
        Ok(Fresh {
            folder,
            name,
            temporary,
            file: File::from(file),
            placed: false,
        })
    }

    fn put_in_place(mut self) -> std::io::Result<()> {
        renameat(
            &self.folder,
            &self.temporary,
            &self.folder,
            self.name.as_os_str(),
        )?;
        self.placed = true;
        Ok(())
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        if !self.placed {
            let _ = unlinkat(&self.folder, &self.temporary, UnlinkatFlags::NoRemoveDir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symbolic_link_is_refused_and_its_target_untouched() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        let target = dir.join("precious");
        std::fs::write(&target, "keep me").unwrap();
        let link = dir.join("stats.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let refused = write_atomically(&link, b"{}").unwrap_err();
        assert!(refused.to_string().contains("symbolic link"), "{refused}");
        assert!(create(&link).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
        assert_eq!(
            std::fs::read_dir(dir).unwrap().count(),
            2,
            "no temporary left"
        );
    }

    #[test]
    fn a_linked_folder_anywhere_above_the_file_is_refused_by_name_and_nothing_is_written_there() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        let private = dir.join("private");
        std::fs::create_dir(&private).unwrap();
        std::fs::write(private.join("stats.json"), "keep me").unwrap();
        let shared = dir.join("shared");
        std::fs::create_dir(&shared).unwrap();
        let planted = shared.join("call");
        std::os::unix::fs::symlink(&private, &planted).unwrap();
        std::fs::create_dir(private.join("deeper")).unwrap();
        let roundabout = shared.join("../shared/call");
        for (path, link) in [
            (planted.join("stats.json"), &planted),
            (planted.join("deeper/remote.y4m"), &planted),
            (roundabout.join("remote.wav"), &roundabout),
        ] {
            let refused = write_atomically(&path, b"{}").unwrap_err();
            assert_eq!(
                refused.to_string(),
                format!(
                    "{} is a symbolic link, and camloop does not write through links: give the real path",
                    link.display()
                ),
                "{}",
                path.display()
            );
            assert_eq!(
                crate::fault::FaultKind::of_io(&refused),
                crate::fault::FaultKind::NeedsChange
            );
            assert!(create(&path).is_err());
        }
        assert_eq!(
            std::fs::read_to_string(private.join("stats.json")).unwrap(),
            "keep me"
        );
        assert_eq!(std::fs::read_dir(&private).unwrap().count(), 2);
        // The same folder reached without the link takes the file.
        write_atomically(&private.join("stats.json"), b"{}").unwrap();
        let missing = create(&dir.join("not-there/remote.y4m")).unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn a_hard_link_to_another_file_is_replaced_not_written_into() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
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
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        let path = dir.join("stats.json");
        write_atomically(&path, b"old").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir).unwrap().count(), 1);
    }
}
