//! The board's screen, alive from start to exit: the local picture on the left, the remote one
//! on the right and the status line, drawn by a thread of its own from what the [`Inbox`] was
//! handed. Whatever shows it (DRM, the framebuffer, memory) is a [`Surface`].

use super::composer::Composer;
use super::draw::{Canvas, STATUS_HEIGHT};
use super::inbox::{Inbox, Picture};
use super::layout::split;
use super::status::StatusLine;
use super::{DisplayError, VideoSink};
use crate::media::frame::Frame;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Something that shows a 32-bit XRGB picture of a fixed size.
pub trait Surface: Send {
    /// The device and mode, for the log.
    fn describe(&self) -> String;
    fn size(&self) -> (usize, usize);
    /// Lets `draw` fill the next picture, then shows it.
    fn present(&mut self, draw: &mut dyn FnMut(&mut Canvas)) -> Result<(), DisplayError>;
}

/// How long the screen thread sleeps with nothing new (it draws only what changed).
const WAKE_UP: Duration = Duration::from_secs(1);
/// The screen takes about a quarter of one core at most: after each picture it rests three
/// times as long as drawing took, so where drawing is slow (a small board, emulation) it shows
/// fewer pictures rather than taking CPU from the call; never longer than [`MAX_REST`], so a
/// change of state still shows within a fraction of a second.
const REST_PER_DRAW: u32 = 3;
const MAX_REST: Duration = Duration::from_millis(500);

pub struct Screen {
    inbox: Arc<Inbox>,
    described: String,
    presented: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Screen {
    pub fn start(mut surface: Box<dyn Surface>) -> Screen {
        let described = surface.describe();
        log::info!("screen: {described}");
        let inbox = Arc::new(Inbox::default());
        let presented = Arc::new(AtomicU64::new(0));
        let (taken, counted) = (inbox.clone(), presented.clone());
        let thread = std::thread::Builder::new()
            .name("screen".into())
            .spawn(move || {
                lower_priority();
                let (width, height) = surface.size();
                let mut composer = Composer::new(split(width, height, STATUS_HEIGHT));
                let mut changed = true;
                while let Some(delivery) = taken.take(WAKE_UP) {
                    changed |= composer.take(delivery);
                    if !changed {
                        continue;
                    }
                    changed = false;
                    let began = Instant::now();
                    if let Err(e) = surface.present(&mut |canvas| composer.draw(canvas)) {
                        log::warn!("{e}; camloop goes on without a screen");
                        break;
                    }
                    counted.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep((began.elapsed() * REST_PER_DRAW).min(MAX_REST));
                }
            })
            .expect("spawning the screen thread");
        Screen {
            inbox,
            described,
            presented,
            thread: Some(thread),
        }
    }

    /// The device and mode.
    pub fn describe(&self) -> &str {
        &self.described
    }

    /// How many pictures the screen has shown so far, counted as they are.
    pub fn presented(&self) -> Arc<AtomicU64> {
        self.presented.clone()
    }

    /// What the camera, the decoder and the daemon hand pictures and status to.
    pub fn feed(&self) -> Feed {
        Feed(self.inbox.clone())
    }
}

impl Drop for Screen {
    /// Stops the thread; the surface it owned gives the screen back (DRM: the console).
    fn drop(&mut self) {
        self.inbox.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        log::debug!(
            "screen: {} pictures shown, {} replaced by a newer one before they could be",
            self.presented.load(Ordering::Relaxed),
            self.inbox.dropped()
        );
    }
}

/// Makes the calling thread yield to every other: the screen must never take the CPU the
/// camera, the codecs and the sound need (on a board under load, a late picture on screen is
/// harmless; a late audio period is a click).
fn lower_priority() {
    if let Err(e) = crate::sys::lower_thread_priority() {
        log::debug!("screen: cannot lower its priority: {e}");
    }
}

/// A handle on the screen's inbox. Every hand-over copies the picture and returns at once.
#[derive(Clone)]
pub struct Feed(Arc<Inbox>);

impl Feed {
    pub fn local(&self, frame: &Frame) {
        self.0.local(Picture {
            width: frame.width,
            height: frame.height,
            i420: frame.data.clone(),
        });
    }

    pub fn status(&self, status: StatusLine) {
        self.0.status(status);
    }

    /// A call's video sink that shows pc2's pictures on the right.
    pub fn remote(&self) -> Box<dyn VideoSink> {
        Box::new(RemoteSink(self.0.clone()))
    }
}

struct RemoteSink(Arc<Inbox>);

impl VideoSink for RemoteSink {
    fn show(&mut self, width: usize, height: usize, i420: &[u8]) -> Result<(), DisplayError> {
        self.0.remote(Picture {
            width,
            height,
            i420: i420.to_vec(),
        });
        Ok(())
    }

    fn finish(&mut self) -> Result<(), DisplayError> {
        Ok(())
    }
}

/// A screen in memory: what the bench draws on when there is no display, and what tests read.
pub struct MemorySurface {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
    /// A copy of the last picture shown, when asked for.
    shown: Option<Arc<Mutex<Vec<u8>>>>,
}

impl MemorySurface {
    pub fn new(width: usize, height: usize) -> MemorySurface {
        MemorySurface {
            width,
            height,
            pixels: vec![0; width * height * 4],
            shown: None,
        }
    }

    /// Keeps a copy of every picture shown where the caller can read it.
    pub fn watched(width: usize, height: usize) -> (MemorySurface, Arc<Mutex<Vec<u8>>>) {
        let shown = Arc::new(Mutex::new(Vec::new()));
        let mut surface = MemorySurface::new(width, height);
        surface.shown = Some(shown.clone());
        (surface, shown)
    }
}

impl Surface for MemorySurface {
    fn describe(&self) -> String {
        format!("in memory, {}x{}", self.width, self.height)
    }

    fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    fn present(&mut self, draw: &mut dyn FnMut(&mut Canvas)) -> Result<(), DisplayError> {
        let size = (self.width, self.height);
        draw(&mut Canvas::new(&mut self.pixels, self.width * 4, size, 0));
        if let Some(shown) = &self.shown {
            shown
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone_from(&self.pixels);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::display::draw::BACKGROUND;
    use std::time::Instant;

    fn frame(width: usize, height: usize, luma: u8) -> Frame {
        let mut data = vec![luma; width * height];
        data.resize(Frame::i420_len(width, height), 128);
        Frame {
            id: 0,
            captured: Instant::now(),
            width,
            height,
            data,
        }
    }

    /// The pixel (B, G, R) at `x`, `y` of a 320x240 screen, once `check` holds for it.
    fn wait_for(shown: &Mutex<Vec<u8>>, x: usize, y: usize, check: impl Fn([u8; 3]) -> bool) {
        let began = Instant::now();
        loop {
            let pixels = shown.lock().unwrap().clone();
            let at = (y * 320 + x) * 4;
            let pixel = pixels.get(at..at + 3).map(|p| [p[0], p[1], p[2]]);
            if pixel.is_some_and(&check) {
                return;
            }
            assert!(
                began.elapsed() < Duration::from_secs(10),
                "at {x},{y}: {pixel:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn local_on_the_left_remote_on_the_right_only_while_connected() {
        let (surface, shown) = MemorySurface::watched(320, 240);
        let screen = Screen::start(Box::new(surface));
        let feed = screen.feed();
        let white = |p: [u8; 3]| p.iter().all(|&c| c > 250);
        let black = |p: [u8; 3]| p.iter().all(|&c| c < 5);
        let empty = |p: [u8; 3]| p == [BACKGROUND[0], BACKGROUND[1], BACKGROUND[2]];
        feed.status(StatusLine {
            state: "ready",
            ..StatusLine::default()
        });
        feed.local(&frame(160, 120, 235));
        let mut remote = feed.remote();
        remote.show(160, 120, &frame(160, 120, 16).data).unwrap();
        wait_for(&shown, 80, 100, white);
        wait_for(&shown, 240, 100, empty);
        feed.status(StatusLine {
            state: "connected",
            ..StatusLine::default()
        });
        feed.local(&frame(160, 120, 235));
        remote.show(160, 120, &frame(160, 120, 16).data).unwrap();
        wait_for(&shown, 80, 100, white);
        wait_for(&shown, 240, 100, black);
        feed.status(StatusLine {
            state: "ready",
            ..StatusLine::default()
        });
        wait_for(&shown, 240, 100, empty);
        drop(screen);
    }
}
