//! DRM/KMS (the Pi's HDMI through vc4, virtio-gpu in QEMU): the first connected connector at
//! its preferred mode, two dumb buffers, each picture drawn into the one not on screen and then
//! flipped to at the next vertical blank, so nothing tears. Each buffer is mapped once, at open. What the CRTC showed before (the
//! console) is put back when the surface is dropped.

use super::DisplayError;
use super::draw::{BYTES_PER_PIXEL, Canvas};
use super::screen::Surface;
use crate::sys::Mapping;
use drm::buffer::{Buffer, DrmFourcc};
use drm::control::{
    Device as ControlDevice, Event, Mode, ModeTypeFlags, PageFlipFlags, connector, crtc,
    dumbbuffer::DumbBuffer, framebuffer,
};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, poll};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

/// How long a flip may take before the screen is given up (a vertical blank is ~17 ms).
const FLIP_TIMEOUT_MS: u16 = 1000;

struct Card(std::fs::File);

impl AsFd for Card {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl drm::Device for Card {}
impl ControlDevice for Card {}

pub struct DrmSurface {
    path: PathBuf,
    card: Card,
    connector: connector::Handle,
    connector_name: String,
    crtc: crtc::Handle,
    mode: Mode,
    buffers: Vec<ScreenBuffer>,
    /// The buffer to draw into next (the other one is on screen).
    back: usize,
    /// What the CRTC showed before camloop.
    saved: crtc::Info,
}

/// A dumb buffer, the framebuffer the CRTC scans out of it, and its memory, mapped once.
struct ScreenBuffer {
    dumb: DumbBuffer,
    fb: framebuffer::Handle,
    mapping: Mapping,
}

impl DrmSurface {
    /// Opens `card`, or without one the first of /dev/dri/card0… with a connected screen.
    pub fn open(card: Option<&Path>) -> Result<DrmSurface, DisplayError> {
        if let Some(path) = card {
            return DrmSurface::open_card(path);
        }
        let mut why = Vec::new();
        for n in 0..8 {
            let path = PathBuf::from(format!("/dev/dri/card{n}"));
            if !path.exists() {
                continue;
            }
            match DrmSurface::open_card(&path) {
                Ok(surface) => return Ok(surface),
                Err(e) => why.push(e.to_string()),
            }
        }
        if why.is_empty() {
            why.push(
                "no /dev/dri/card* (no KMS driver loaded: on a Pi, dtoverlay=vc4-kms-v3d)".into(),
            );
        }
        Err(DisplayError::new("drm", why.join("; ")))
    }

    fn open_card(path: &Path) -> Result<DrmSurface, DisplayError> {
        let error = |reason: String| DisplayError::new(path.display(), reason);
        let io = |what: &'static str| move |e: std::io::Error| error(format!("{what}: {e}"));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| {
                error(format!(
                    "cannot open: {e} (is the user in the video group?)"
                ))
            })?;
        let card = Card(file);
        let resources = card
            .resource_handles()
            .map_err(io("not a KMS device (a render-only GPU?)"))?;
        let connected = resources
            .connectors()
            .iter()
            .filter_map(|&c| card.get_connector(c, true).ok())
            .find(|c| c.state() == connector::State::Connected && !c.modes().is_empty())
            .ok_or_else(|| error("no screen connected to any connector".into()))?;
        let mode = *connected
            .modes()
            .iter()
            .find(|m| m.mode_type().contains(ModeTypeFlags::PREFERRED))
            .unwrap_or(&connected.modes()[0]);
        let crtc = connected
            .current_encoder()
            .into_iter()
            .chain(connected.encoders().iter().copied())
            .filter_map(|e| card.get_encoder(e).ok())
            .find_map(|e| {
                e.crtc()
                    .or_else(|| resources.filter_crtcs(e.possible_crtcs()).first().copied())
            })
            .ok_or_else(|| error(format!("no display controller for {connected}")))?;
        let saved = card
            .get_crtc(crtc)
            .map_err(io("reading the display controller"))?;
        let (width, height) = mode.size();
        let buffer = || -> Result<ScreenBuffer, DisplayError> {
            let dumb = card
                .create_dumb_buffer((width.into(), height.into()), DrmFourcc::Xrgb8888, 32)
                .map_err(io("creating a screen buffer"))?;
            let fb = card
                .add_framebuffer(&dumb, 24, 32)
                .map_err(io("adding a framebuffer"))?;
            let pitch = dumb.pitch() as usize;
            if pitch < usize::from(width) * BYTES_PER_PIXEL {
                return Err(error(format!("screen rows of {pitch} bytes are too short")));
            }
            let length = pitch * usize::from(height);
            let mapping = drm_ffi::mode::dumbbuffer::map(card.as_fd(), dumb.handle().into(), 0, 0)
                .and_then(|map| Mapping::shared(card.as_fd(), length, map.offset))
                .map_err(io("mapping a screen buffer"))?;
            Ok(ScreenBuffer { dumb, fb, mapping })
        };
        let buffers = vec![buffer()?, buffer()?];
        card.set_crtc(
            crtc,
            Some(buffers[0].fb),
            (0, 0),
            &[connected.handle()],
            Some(mode),
        )
        .map_err(|e| {
            error(format!(
                "cannot take the screen: {e} (another program, a desktop or another \
                     camloop, holds it)"
            ))
        })?;
        Ok(DrmSurface {
            path: path.to_path_buf(),
            connector: connected.handle(),
            connector_name: connected.to_string(),
            card,
            crtc,
            mode,
            buffers,
            back: 1,
            saved,
        })
    }

    /// Waits for the flip just asked for to happen.
    fn wait_for_flip(&self) -> Result<(), DisplayError> {
        loop {
            let mut fds = [PollFd::new(self.card.0.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, FLIP_TIMEOUT_MS) {
                Ok(0) => {
                    return Err(self.error("a page flip did not happen within a second".into()));
                }
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(self.error(format!("waiting for a page flip: {e}"))),
            }
            let events = self
                .card
                .receive_events()
                .map_err(|e| self.error(format!("reading events: {e}")))?;
            if events
                .into_iter()
                .any(|e| matches!(e, Event::PageFlip(f) if f.crtc == self.crtc))
            {
                return Ok(());
            }
        }
    }

    fn error(&self, reason: String) -> DisplayError {
        DisplayError::new(self.path.display(), reason)
    }
}

impl Surface for DrmSurface {
    fn describe(&self) -> String {
        let (width, height) = self.mode.size();
        format!(
            "DRM {} {} {width}x{height}@{}",
            self.path.display(),
            self.connector_name,
            self.mode.vrefresh()
        )
    }

    fn size(&self) -> (usize, usize) {
        let (width, height) = self.mode.size();
        (width.into(), height.into())
    }

    fn present(&mut self, draw: &mut dyn FnMut(&mut Canvas)) -> Result<(), DisplayError> {
        let size = self.size();
        let buffer = &mut self.buffers[self.back];
        let stride = buffer.dumb.pitch() as usize;
        draw(&mut Canvas::new(
            buffer.mapping.bytes(),
            stride,
            size,
            self.back,
        ));
        self.card
            .page_flip(self.crtc, buffer.fb, PageFlipFlags::EVENT, None)
            .map_err(|e| self.error(format!("page flip: {e}")))?;
        self.wait_for_flip()?;
        self.back = 1 - self.back;
        Ok(())
    }
}

impl Drop for DrmSurface {
    fn drop(&mut self) {
        // With nothing shown before, the CRTC is switched off again.
        let connectors = match self.saved.framebuffer() {
            Some(_) => vec![self.connector],
            None => Vec::new(),
        };
        let restored = self.card.set_crtc(
            self.crtc,
            self.saved.framebuffer(),
            self.saved.position(),
            &connectors,
            self.saved.mode(),
        );
        if let Err(e) = restored {
            log::warn!(
                "{}",
                self.error(format!("could not give the screen back: {e}"))
            );
        }
        for ScreenBuffer { dumb, fb, mapping } in std::mem::take(&mut self.buffers) {
            drop(mapping);
            let _ = self.card.destroy_framebuffer(fb);
            let _ = self.card.destroy_dumb_buffer(dumb);
        }
    }
}
