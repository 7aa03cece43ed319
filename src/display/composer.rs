//! What the screen shows, worked out apart from any surface: the newest picture of each half
//! and the status line, and which of them each of the surface's buffers is behind on.

use super::draw::{BACKGROUND, Canvas, Scratch, columns};
use super::inbox::{Delivery, Picture};
use super::layout::{Layout, Rect, fit};
use super::status::StatusLine;

/// What one half shows: the newest picture and where it goes, or nothing.
#[derive(Default)]
struct Half {
    rect: Rect,
    picture: Option<Picture>,
}

/// What a buffer of the surface was last drawn with.
#[derive(Clone, Copy, Default)]
struct Drawn {
    versions: [u64; 3],
    /// Where each half's picture went, so the background around it is filled only on a move.
    placed: [Option<Rect>; 2],
}

/// The newest pictures and the status line. Each of the three regions has a version, counted
/// up when what it shows changes; each of the surface's buffers remembers what it was last
/// drawn with, so a picture redraws only its own half.
pub struct Composer {
    layout: Layout,
    /// Local, remote.
    halves: [Half; 2],
    status: StatusLine,
    text: String,
    /// Of local, remote and status; the first is 1, so a buffer never drawn (0) is behind.
    versions: [u64; 3],
    drawn: Vec<Drawn>,
    scratch: Scratch,
}

/// The status line's version, after the halves' (local, remote).
const STATUS: usize = 2;

impl Composer {
    pub fn new(layout: Layout) -> Composer {
        let status = StatusLine {
            state: "starting",
            ..StatusLine::default()
        };
        Composer {
            text: status.text(columns(layout.status.width)),
            layout,
            halves: Default::default(),
            status,
            versions: [1; 3],
            drawn: Vec::new(),
            scratch: Scratch::default(),
        }
    }

    /// Takes what arrived; false when nothing on screen changes.
    pub fn take(&mut self, delivery: Delivery) -> bool {
        let before = self.versions;
        if let Some(status) = delivery.status {
            if status.state != self.status.state {
                // A picture from before the change may be stale (a camera gone, a call over);
                // a live one is back with the next frame.
                for (n, half) in self.halves.iter_mut().enumerate() {
                    if half.picture.take().is_some() {
                        self.versions[n] += 1;
                    }
                }
            }
            let text = status.text(columns(self.layout.status.width));
            if text != self.text {
                self.text = text;
                self.versions[STATUS] += 1;
            }
            self.status = status;
        }
        let connected = self.status.state == "connected";
        let areas = [self.layout.local, self.layout.remote];
        let arrived = [delivery.local, delivery.remote.filter(|_| connected)];
        for (n, picture) in arrived.into_iter().enumerate() {
            if let Some(picture) = picture {
                self.halves[n].rect = fit(areas[n], picture.width, picture.height);
                self.halves[n].picture = Some(picture);
                self.versions[n] += 1;
            }
        }
        self.versions != before
    }

    /// Draws into `canvas` the regions its buffer is behind on.
    pub fn draw(&mut self, canvas: &mut Canvas) {
        let buffer = canvas.buffer();
        if self.drawn.len() <= buffer {
            self.drawn.resize(buffer + 1, Drawn::default());
        }
        let drawn = &mut self.drawn[buffer];
        let areas = [self.layout.local, self.layout.remote];
        for (n, half) in self.halves.iter().enumerate() {
            if drawn.versions[n] == self.versions[n] {
                continue;
            }
            let shown = half
                .picture
                .as_ref()
                .is_some_and(|picture| canvas.picture(half.rect, picture, &mut self.scratch));
            let placed = shown.then_some(half.rect);
            match placed {
                Some(rect) if drawn.placed[n] != placed => {
                    canvas.fill_around(areas[n], rect, BACKGROUND)
                }
                Some(_) => {}
                None => canvas.fill(areas[n], BACKGROUND),
            }
            drawn.placed[n] = placed;
        }
        if drawn.versions[STATUS] != self.versions[STATUS] {
            canvas.status(self.layout.status, &self.text);
        }
        drawn.versions = self.versions;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::display::draw::STATUS_HEIGHT;
    use crate::display::layout::split;
    use crate::media::frame::Frame;

    #[test]
    fn a_buffer_is_drawn_again_only_where_it_is_behind() {
        let (width, height) = (320, 240);
        let mut composer = Composer::new(split(width, height, STATUS_HEIGHT));
        let picture = |luma| {
            let mut i420 = vec![luma; 160 * 120];
            i420.resize(Frame::i420_len(160, 120), 128);
            Some(Picture {
                width: 160,
                height: 120,
                i420,
            })
        };
        let connected = Some(StatusLine {
            state: "connected",
            ..StatusLine::default()
        });
        let draw = |composer: &mut Composer, pixels: &mut Vec<u8>, buffer| {
            composer.draw(&mut Canvas::new(pixels, width * 4, (width, height), buffer));
        };
        let at = |pixels: &[u8], x: usize, y: usize| pixels[(y * width + x) * 4..][..3].to_vec();
        let (white, black, marked) = (vec![255; 3], vec![0; 3], vec![1, 2, 3]);
        let mut front = vec![0u8; width * height * 4];
        assert!(composer.take(Delivery {
            status: connected,
            local: picture(235),
            remote: picture(16),
        }));
        draw(&mut composer, &mut front, 0);
        assert_eq!(
            (at(&front, 80, 100), at(&front, 240, 100)),
            (white.clone(), black.clone())
        );
        front[(100 * width + 240) * 4..][..3].copy_from_slice(&marked);
        assert!(composer.take(Delivery {
            local: picture(16),
            ..Delivery::default()
        }));
        draw(&mut composer, &mut front, 0);
        assert_eq!(at(&front, 80, 100), black, "the new local picture is drawn");
        assert_eq!(
            at(&front, 240, 100),
            marked,
            "the right half was redrawn for nothing"
        );
        assert!(!composer.take(Delivery::default()));
        let mut back = vec![0u8; width * height * 4];
        draw(&mut composer, &mut back, 1);
        assert_eq!(
            (at(&back, 80, 100), at(&back, 240, 100)),
            (black.clone(), black)
        );
        let status = composer.layout.status;
        assert_ne!(
            at(&back, status.x + 2, status.y + 2),
            vec![0; 3],
            "no status line"
        );
    }
}
