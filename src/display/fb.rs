//! The Linux framebuffer (`/dev/fb0`), for boards without KMS: the Pi firmware's framebuffer,
//! `simple-framebuffer`, or a DRM driver's fbdev emulation. Each picture is drawn off screen and
//! the rows it changed copied in, so a half-drawn picture is never shown (the framebuffer has
//! no flip).

use super::DisplayError;
use super::draw::{BYTES_PER_PIXEL, Canvas};
use super::mapping::Mapping;
use super::screen::Surface;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

const KDSETMODE: libc::c_ulong = 0x4b3a;
const KD_TEXT: libc::c_ulong = 0;
const KD_GRAPHICS: libc::c_ulong = 1;
/// The foreground virtual terminal, whose text console shares the framebuffer.
const CONSOLE: &str = "/dev/tty0";
const FBIOGET_VSCREENINFO: libc::c_ulong = 0x4600;
const FBIOGET_FSCREENINFO: libc::c_ulong = 0x4602;

/// `struct fb_bitfield` of `<linux/fb.h>`.
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct Bitfield {
    offset: u32,
    length: u32,
    msb_right: u32,
}

/// `struct fb_var_screeninfo`.
#[repr(C)]
#[derive(Default)]
struct VarScreenInfo {
    xres: u32,
    yres: u32,
    xres_virtual: u32,
    yres_virtual: u32,
    xoffset: u32,
    yoffset: u32,
    bits_per_pixel: u32,
    grayscale: u32,
    red: Bitfield,
    green: Bitfield,
    blue: Bitfield,
    transp: Bitfield,
    rest: [u32; 20],
}

/// `struct fb_fix_screeninfo`.
#[repr(C)]
#[derive(Default)]
struct FixScreenInfo {
    id: [u8; 16],
    smem_start: libc::c_ulong,
    smem_len: u32,
    kind: u32,
    type_aux: u32,
    visual: u32,
    xpanstep: u16,
    ypanstep: u16,
    ywrapstep: u16,
    line_length: u32,
    mmio_start: libc::c_ulong,
    mmio_len: u32,
    accel: u32,
    capabilities: u16,
    reserved: [u16; 2],
}

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
        let fd = device.as_raw_fd();
        let mut var = VarScreenInfo::default();
        let mut fix = FixScreenInfo::default();
        // SAFETY: both ioctls fill the structs, laid out as <linux/fb.h> has them, on our fd.
        let read = unsafe {
            libc::ioctl(fd, FBIOGET_VSCREENINFO as _, &mut var) == 0
                && libc::ioctl(fd, FBIOGET_FSCREENINFO as _, &mut fix) == 0
        };
        if !read {
            let e = std::io::Error::last_os_error();
            return Err(error(format!("not a framebuffer: {e}")));
        }
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
            .and_then(|tty| set_mode(&tty, KD_GRAPHICS).map(|()| tty));
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
        let _ = set_mode(&self.0, KD_TEXT);
    }
}

fn set_mode(tty: &std::fs::File, mode: libc::c_ulong) -> std::io::Result<()> {
    // SAFETY: KDSETMODE takes its mode by value; the fd is ours.
    match unsafe { libc::ioctl(tty.as_raw_fd(), KDSETMODE as _, mode) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}
