//! The system calls that neither std nor nix wrap safely, each behind a safe function: the one
//! module of camloop allowed `unsafe` (the crate root denies it everywhere else), every block
//! with the reason it is sound.

use std::os::fd::{AsRawFd, BorrowedFd};

/// A device's memory mapped into camloop (a DRM dumb buffer, the framebuffer): mapped once
/// when the screen is opened, not per picture, and unmapped when it is dropped.
pub struct Mapping {
    address: *mut u8,
    length: usize,
}

// SAFETY: the mapping is owned by one surface alone and used only through `&mut self`.
unsafe impl Send for Mapping {}

impl Mapping {
    /// Maps `length` bytes of `device` from `offset`, to read and write, shared with the device.
    pub fn shared(device: BorrowedFd, length: usize, offset: u64) -> std::io::Result<Mapping> {
        let offset = libc::off_t::try_from(offset)
            .map_err(|_| std::io::Error::other(format!("offset {offset} out of range")))?;
        // SAFETY: a new mapping of the device's memory, its length as the driver reported;
        // unmapped once, in Drop.
        let address = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                length,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                device.as_raw_fd(),
                offset,
            )
        };
        if address == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Mapping {
            address: address.cast(),
            length,
        })
    }

    pub fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: `length` bytes mapped at `address`, alive as long as self.
        unsafe { std::slice::from_raw_parts_mut(self.address, self.length) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps what `shared` mapped, once.
        unsafe {
            libc::munmap(self.address.cast(), self.length);
        }
    }
}

const FBIOGET_VSCREENINFO: libc::c_ulong = 0x4600;
const FBIOGET_FSCREENINFO: libc::c_ulong = 0x4602;

/// `struct fb_bitfield` of `<linux/fb.h>`.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub struct Bitfield {
    pub offset: u32,
    pub length: u32,
    pub msb_right: u32,
}

/// `struct fb_var_screeninfo`.
#[repr(C)]
#[derive(Default)]
pub struct VarScreenInfo {
    pub xres: u32,
    pub yres: u32,
    pub xres_virtual: u32,
    pub yres_virtual: u32,
    pub xoffset: u32,
    pub yoffset: u32,
    pub bits_per_pixel: u32,
    pub grayscale: u32,
    pub red: Bitfield,
    pub green: Bitfield,
    pub blue: Bitfield,
    pub transp: Bitfield,
    pub rest: [u32; 20],
}

/// `struct fb_fix_screeninfo`.
#[repr(C)]
#[derive(Default)]
pub struct FixScreenInfo {
    pub id: [u8; 16],
    pub smem_start: libc::c_ulong,
    pub smem_len: u32,
    pub kind: u32,
    pub type_aux: u32,
    pub visual: u32,
    pub xpanstep: u16,
    pub ypanstep: u16,
    pub ywrapstep: u16,
    pub line_length: u32,
    pub mmio_start: libc::c_ulong,
    pub mmio_len: u32,
    pub accel: u32,
    pub capabilities: u16,
    pub reserved: [u16; 2],
}

/// A framebuffer's variable and fixed screen information.
pub fn framebuffer_info(device: BorrowedFd) -> std::io::Result<(VarScreenInfo, FixScreenInfo)> {
    let mut var = VarScreenInfo::default();
    let mut fix = FixScreenInfo::default();
    // SAFETY: both ioctls fill the structs, laid out as <linux/fb.h> has them, on a descriptor
    // the caller holds open.
    let read = unsafe {
        libc::ioctl(device.as_raw_fd(), FBIOGET_VSCREENINFO as _, &mut var) == 0
            && libc::ioctl(device.as_raw_fd(), FBIOGET_FSCREENINFO as _, &mut fix) == 0
    };
    if read {
        Ok((var, fix))
    } else {
        Err(std::io::Error::last_os_error())
    }
}

const KDSETMODE: libc::c_ulong = 0x4b3a;

/// Puts a virtual terminal's console in graphics mode (it stops drawing text on the screen)
/// or back in text mode.
pub fn set_console_graphics(tty: BorrowedFd, graphics: bool) -> std::io::Result<()> {
    let mode: libc::c_ulong = if graphics { 1 } else { 0 };
    // SAFETY: KDSETMODE takes its mode by value, on a descriptor the caller holds open.
    match unsafe { libc::ioctl(tty.as_raw_fd(), KDSETMODE as _, mode) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// The user this process acts as.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid(2) takes nothing and cannot fail.
    unsafe { libc::geteuid() }
}

/// Gives the calling thread the lowest scheduling priority (nice 19).
pub fn lower_thread_priority() -> std::io::Result<()> {
    let thread = nix::unistd::gettid().as_raw() as libc::id_t;
    // SAFETY: a plain system call with values only, on the calling thread's own id.
    match unsafe { libc::setpriority(libc::PRIO_PROCESS, thread, 19) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// What VIDIOC_QUERYCAP says of a V4L2 node, its names read leniently: v4l 0.14's own
/// `query_caps` unwraps them as UTF-8 and panics on a name a driver cut inside a character.
#[derive(Debug)]
pub struct VideoCapabilities {
    pub driver: String,
    pub card: String,
    /// A video capture node (not metadata, output or a codec).
    pub capture: bool,
    /// It can stream buffers (mmap).
    pub streaming: bool,
}

pub fn video_capabilities(device: &v4l::Device) -> std::io::Result<VideoCapabilities> {
    use v4l::v4l_sys::v4l2_capability;
    // SAFETY: all zeroes is a valid v4l2_capability: integers and byte arrays only.
    let mut caps: v4l2_capability = unsafe { std::mem::zeroed() };
    // SAFETY: VIDIOC_QUERYCAP fills the struct it is given, laid out by the kernel's own
    // header (v4l2-sys), on a descriptor the device holds open.
    unsafe {
        v4l::v4l2::ioctl(
            device.handle().fd(),
            v4l::v4l2::vidioc::VIDIOC_QUERYCAP,
            std::ptr::from_mut(&mut caps).cast(),
        )?;
    }
    // The node's own capabilities where the driver gives them (every driver since Linux 3.4),
    // else the whole device's.
    let node = if caps.capabilities & V4L2_CAP_DEVICE_CAPS != 0 {
        caps.device_caps
    } else {
        caps.capabilities
    };
    Ok(VideoCapabilities {
        driver: c_name(&caps.driver),
        card: c_name(&caps.card),
        capture: node & V4L2_CAP_VIDEO_CAPTURE != 0,
        streaming: node & V4L2_CAP_STREAMING != 0,
    })
}

const V4L2_CAP_VIDEO_CAPTURE: u32 = 0x0000_0001;
const V4L2_CAP_STREAMING: u32 = 0x0400_0000;
const V4L2_CAP_DEVICE_CAPS: u32 = 0x8000_0000;

/// A fixed-size, NUL-padded name, whatever bytes the driver put in it.
fn c_name(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::c_name;

    #[test]
    fn a_name_cut_inside_a_character_is_read_not_panicked_on() {
        // "Caméra" cut after the first byte of "é", as a 32-byte field can cut a long name.
        let mut field = [0u8; 32];
        field[..4].copy_from_slice(b"Cam\xc3");
        assert_eq!(c_name(&field), "Cam\u{FFFD}");
        assert_eq!(c_name(b"vivid\0\0\0"), "vivid");
        assert_eq!(c_name(&[b'x'; 4]), "xxxx", "no NUL at all");
    }
}
