//! The initramfs archive the kernel unpacks: files, the folders they need, device nodes.

use anyhow::{Context, Result, bail};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A newc ("070701") cpio archive, the format the kernel unpacks as its initramfs: entries made
/// by the `cpio` crate, with the folders each file needs.
pub struct Cpio<W: Write> {
    out: W,
    inode: u32,
    /// Folders already in the archive.
    folders: HashSet<PathBuf>,
}

impl<W: Write> Cpio<W> {
    pub fn new(out: W) -> Self {
        Cpio {
            out,
            inode: 1,
            folders: HashSet::new(),
        }
    }

    fn entry(&mut self, name: &str, mode: u32, data: &[u8], rdev: (u32, u32)) -> Result<()> {
        let mut entry = cpio::newc::Builder::new(name)
            .ino(self.inode)
            .mode(mode)
            .nlink(1)
            .rdev_major(rdev.0)
            .rdev_minor(rdev.1)
            .write(
                &mut self.out,
                data.len().try_into().context("a file over 4 GiB")?,
            );
        entry.write_all(data)?;
        entry.finish()?;
        self.inode += 1;
        Ok(())
    }

    pub fn dir(&mut self, name: &str) -> Result<()> {
        if self.folders.insert(PathBuf::from(name)) {
            self.entry(name, 0o040755, &[], (0, 0))?;
        }
        Ok(())
    }

    /// A file, in its folders (made when missing).
    pub fn file(&mut self, name: &str, data: &[u8], permissions: u32) -> Result<()> {
        if name.is_empty() || name.starts_with('/') {
            bail!("bad path in the image: {name:?}");
        }
        let mut parent = PathBuf::new();
        for part in Path::new(name)
            .parent()
            .into_iter()
            .flat_map(|p| p.components())
        {
            parent.push(part);
            self.dir(parent.to_str().context("path")?)?;
        }
        self.entry(name, 0o100000 | permissions, data, (0, 0))
    }

    pub fn char_device(&mut self, name: &str, major: u32, minor: u32) -> Result<()> {
        self.entry(name, 0o020600, &[], (major, minor))
    }

    pub fn finish(mut self) -> Result<()> {
        cpio::newc::trailer(&mut self.out)?;
        self.out.flush()?;
        Ok(())
    }
}
