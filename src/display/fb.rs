//! The Linux framebuffer (`/dev/fb0`), for boards without KMS: the Pi firmware's framebuffer,
//! `simple-framebuffer`, or a DRM driver's fbdev emulation. Each picture is drawn off screen and
//! the rows it changed copied in, so a half-drawn picture is never shown (the framebuffer has
//! no flip).

use super::DisplayError;
use super::draw::{BYTES_PER_PIXEL, Canvas};
use super::screen::Surface;
use crate::sys::{self, Mapping};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// The foreground virtual terminal, whose text console shares the framebuffer.
const CONSOLE: &str = "/dev/tty0";

pub struct FbSurface {
    path: PathBuf,
    _device: std::fs::File,
    _console: Option<QuietConsole>,
    mapping: Mapping,
    stride: usize,
    width: usize,
    height: usize,
    back: Vec<u8>,
}

impl FbSurface {
    pub fn open(path: &Path) -> Result<FbSurface, DisplayError> {
        let error = |reason: String| DisplayError::new(path.display(), reason);
        let device = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| {
                error(format!(
                    "cannot open the framebuffer: {e} (is the user in the video group?)"
                ))
            })?;
        let (var, fix) = sys::framebuffer_info(device.as_fd())
            .map_err(|e| error(format!("not a framebuffer: {e}")))?;
        let xrgb = var.bits_per_pixel == 32
            && (var.red.offset, var.green.offset, var.blue.offset) == (16, 8, 0);
        if !xrgb {
            return Err(error(format!(
                "{} bits per pixel with red at bit {}: camloop draws 32-bit XRGB (on a Pi, set \
                 framebuffer_depth=32 in config.txt)",
                var.bits_per_pixel, var.red.offset
            )));
        }
        let (width, height) = (var.xres as usize, var.yres as usize);
        let stride = fix.line_length as usize;
        let length = fix.smem_len as usize;
        if width == 0 || stride < width * BYTES_PER_PIXEL || length < stride * height {
            return Err(error(format!(
                "a {width}x{height} mode in {length} bytes of {stride}-byte rows does not add up"
            )));
        }
        let mapping = Mapping::shared(device.as_fd(), length, 0)
            .map_err(|e| error(format!("cannot map the framebuffer: {e}")))?;
        Ok(FbSurface {
            path: path.to_path_buf(),
            _device: device,
            _console: QuietConsole::hold(),
            mapping,
            stride,
            width,
            height,
            back: vec![0; width * height * BYTES_PER_PIXEL],
        })
    }
}

impl Surface for FbSurface {
    fn describe(&self) -> String {
        format!(
            "framebuffer {} {}x{}",
            self.path.display(),
            self.width,
            self.height
        )
    }

    fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    fn present(&mut self, draw: &mut dyn FnMut(&mut Canvas)) -> Result<(), DisplayError> {
        let row = self.width * BYTES_PER_PIXEL;
        let mut canvas = Canvas::new(&mut self.back, row, (self.width, self.height), 0);
        draw(&mut canvas);
        let touched = canvas.touched();
        let screen = self.mapping.bytes();
        for y in touched {
            screen[y * self.stride..][..row].copy_from_slice(&self.back[y * row..][..row]);
        }
        Ok(())
    }
}

/// The text console kept off the framebuffer while camloop draws on it (its cursor and any
/// text would otherwise land on the pictures), and given back at exit.
struct QuietConsole(std::fs::File);

impl QuietConsole {
    fn hold() -> Option<QuietConsole> {
        let held = std::fs::OpenOptions::new()
            .write(true)
            .open(CONSOLE)
            .and_then(|tty| sys::set_console_graphics(tty.as_fd(), true).map(|()| tty));
        match held {
            Ok(tty) => Some(QuietConsole(tty)),
            Err(e) => {
                log::warn!(
                    "the text console may draw over the screen: {CONSOLE} stays in text mode \
                     ({e}; camloop needs root or CAP_SYS_TTY_CONFIG to switch it)"
                );
                None
            }
        }
    }
}

impl Drop for QuietConsole {
    fn drop(&mut self) {
        let _ = sys::set_console_graphics(self.0.as_fd(), false);
    }
}
