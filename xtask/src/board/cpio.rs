//! The newc ("070701") cpio format the kernel unpacks as its initramfs.

use anyhow::{Context, Result, bail};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A newc ("070701") cpio archive, the format the kernel unpacks as its initramfs.
pub struct Cpio<W: Write> {
    out: W,
    inode: u32,
    written: usize,
    /// Folders already in the archive.
    folders: HashSet<PathBuf>,
}

impl<W: Write> Cpio<W> {
    pub fn new(out: W) -> Self {
        Cpio {
            out,
            inode: 1,
            written: 0,
            folders: HashSet::new(),
        }
    }

    fn entry(&mut self, name: &str, mode: u32, data: &[u8], rdev: (u32, u32)) -> Result<()> {
        let name_len = name.len() + 1;
        let fields = [
            self.inode,
            mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            name_len as u32,
            0,
        ];
        self.inode += 1;
        let mut header = String::from("070701");
        for field in fields {
            header.push_str(&format!("{field:08x}"));
        }
        self.write(header.as_bytes())?;
        self.write(name.as_bytes())?;
        self.write(&[0])?;
        self.pad()?;
        self.write(data)?;
        self.pad()
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len();
        Ok(())
    }

    fn pad(&mut self) -> Result<()> {
        let padding = (4 - self.written % 4) % 4;
        self.write(&[0; 3][..padding])
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
        self.entry("TRAILER!!!", 0, &[], (0, 0))?;
        self.out.flush()?;
        Ok(())
    }
}
