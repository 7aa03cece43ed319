//! A device's memory mapped into camloop (a DRM dumb buffer, the framebuffer): mapped once
//! when the screen is opened, not per picture, and unmapped when it is dropped.

use std::os::fd::{AsRawFd, BorrowedFd};

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
