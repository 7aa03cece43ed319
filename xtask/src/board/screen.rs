//! The board's screen as the host sees it: QMP `screendump` while the guest holds still, and a
//! check of what is where (camloop's layout: local picture in the left half, remote in the right,
//! status line along the bottom).

use anyhow::{Context, Result, bail};
use noto_sans_mono_bitmap::{
    FontWeight, RasterHeight, RasterizedChar, get_raster, get_raster_width,
};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// One QMP session.
pub struct Qmp(BufReader<UnixStream>);

impl Qmp {
    pub fn open(stream: UnixStream) -> Result<Qmp> {
        let mut qmp = Qmp(BufReader::new(stream));
        let mut greeting = String::new();
        qmp.0.read_line(&mut greeting)?;
        qmp.execute(r#"{"execute":"qmp_capabilities"}"#)?;
        Ok(qmp)
    }

    /// Sends `command` and returns its answer (events before it are skipped).
    pub fn execute(&mut self, command: &str) -> Result<serde_json::Value> {
        self.0.get_mut().write_all(command.as_bytes())?;
        loop {
            let mut line = String::new();
            if self.0.read_line(&mut line)? == 0 {
                bail!("QMP closed");
            }
            let value: serde_json::Value = serde_json::from_str(&line)?;
            if let Some(error) = value.get("error") {
                bail!("QMP {command}: {error}");
            }
            if value.get("return").is_some() {
                return Ok(value);
            }
        }
    }
}

/// What is on screen, as a PNG file (QEMU ≥ 7.1 writes PNG when asked).
pub fn dump(qmp: &mut Qmp, to: &Path) -> Result<()> {
    let to = std::path::absolute(to)?;
    let command = serde_json::json!({
        "execute": "screendump",
        "arguments": {"filename": to, "format": "png"}
    });
    qmp.execute(&command.to_string())?;
    Ok(())
}

/// An RGB picture, from a screendump.
pub struct Shot {
    pub width: usize,
    pub height: usize,
    rgb: Vec<u8>,
}

impl Shot {
    pub fn read(path: &Path) -> Result<Shot> {
        let file =
            std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
        let mut reader = png::Decoder::new(std::io::BufReader::new(file)).read_info()?;
        let mut rgb = vec![0; reader.output_buffer_size()];
        let frame = reader.next_frame(&mut rgb)?;
        if (frame.color_type, frame.bit_depth) != (png::ColorType::Rgb, png::BitDepth::Eight) {
            bail!(
                "{} is {:?} at {:?}, not 8-bit RGB",
                path.display(),
                frame.color_type,
                frame.bit_depth
            );
        }
        rgb.truncate(frame.buffer_size());
        Ok(Shot {
            width: frame.width as usize,
            height: frame.height as usize,
            rgb,
        })
    }

    fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let at = (y * self.width + x) * 3;
        [self.rgb[at], self.rgb[at + 1], self.rgb[at + 2]]
    }

    /// The centre quarter of the half `(left, width)` above the status line.
    fn centre(&self, left: usize, width: usize) -> Vec<[u8; 3]> {
        let above = self.height - STATUS_HEIGHT;
        let mut pixels = Vec::new();
        for y in above * 3 / 8..above * 5 / 8 {
            for x in left + width * 3 / 8..left + width * 5 / 8 {
                pixels.push(self.pixel(x, y));
            }
        }
        pixels
    }

    /// The text of the status line, read back cell by cell: each character cell is matched
    /// against every glyph of the font camloop draws with, the closest one wins.
    fn status_text(&self) -> String {
        let advance = get_raster_width(FontWeight::Regular, FONT);
        let top = self.height - STATUS_HEIGHT + (STATUS_HEIGHT - FONT.val()) / 2;
        let columns = self.width.saturating_sub(advance) / advance;
        let glyphs: Vec<_> = (' '..='~')
            .filter_map(|c| Some((c, get_raster(c, FontWeight::Regular, FONT)?)))
            .collect();
        let text: String = (0..columns)
            .map(|i| {
                let left = advance / 2 + i * advance;
                // How far each pixel is from the background toward the text colour, 0-255.
                let seen = |x: usize, y: usize| {
                    let green = self.pixel(left + x, top + y)[1];
                    let span = (TEXT_GREEN - STATUS_BACKGROUND[1]) as u32;
                    (green.saturating_sub(STATUS_BACKGROUND[1]) as u32 * 255 / span).min(255)
                };
                let distance = |glyph: &RasterizedChar| -> u32 {
                    glyph
                        .rows()
                        .enumerate()
                        .flat_map(|(y, row)| row.iter().enumerate().map(move |(x, &v)| (x, y, v)))
                        .map(|(x, y, v)| seen(x, y).abs_diff(v as u32))
                        .sum()
                };
                glyphs
                    .iter()
                    .min_by_key(|(_, glyph)| distance(glyph))
                    .map_or(' ', |(c, _)| *c)
            })
            .collect();
        text.trim_end().to_string()
    }
}

/// camloop's status line: its font with 4 pixels above and below.
const FONT: RasterHeight = RasterHeight::Size16;
const STATUS_HEIGHT: usize = FONT.val() + 8;
/// The green of camloop's pale yellow text (R 0xff, G 0xf0, B 0xa0).
const TEXT_GREEN: u8 = 0xf0;
/// The colour camloop fills what no picture covers with.
const BACKGROUND: [u8; 3] = [0x20, 0x20, 0x20];
const STATUS_BACKGROUND: [u8; 3] = [0x40, 0x40, 0x40];

fn share_of(pixels: &[[u8; 3]], wanted: impl Fn(&[u8; 3]) -> bool) -> f64 {
    pixels.iter().filter(|p| wanted(p)).count() as f64 / pixels.len().max(1) as f64
}

fn mean_difference(a: &[[u8; 3]], b: &[[u8; 3]]) -> f64 {
    let total: u64 = a
        .iter()
        .zip(b)
        .flat_map(|(p, q)| p.iter().zip(q).map(|(x, y)| x.abs_diff(*y) as u64))
        .sum();
    total as f64 / (a.len().max(1) * 3) as f64
}

/// During a call: a picture in both halves, the same picture (pc2 decoded what pc1 sent), and
/// a status line with text. After Hangup: the right half empty, the left still live.
pub fn check(connected: &Shot, ready: &Shot) -> Result<Vec<String>> {
    let half = connected.width / 2;
    let (local, remote) = (
        connected.centre(0, half),
        connected.centre(half, connected.width - half),
    );
    let pictured = |p: &[u8; 3]| *p != BACKGROUND;
    let (local_share, remote_share) = (share_of(&local, pictured), share_of(&remote, pictured));
    if local_share < 0.9 || remote_share < 0.9 {
        bail!(
            "during the call the halves' centres are {:.0} % / {:.0} % picture (left / right)",
            local_share * 100.0,
            remote_share * 100.0
        );
    }
    let difference = mean_difference(&local, &remote);
    if difference > 40.0 {
        bail!("the remote picture is not the local one: mean difference {difference:.1} of 255");
    }
    let (said_during, said_after) = (connected.status_text(), ready.status_text());
    if !said_during.starts_with("camloop: connected") || !said_after.starts_with("camloop: ready") {
        bail!(
            "the status line reads {said_during:?} during the call and {said_after:?} after Hangup, not \
             \"camloop: connected …\" and \"camloop: ready\""
        );
    }
    let after = ready.centre(half, ready.width - half);
    let left_after = share_of(&ready.centre(0, half), pictured);
    if share_of(&after, pictured) > 0.01 || left_after < 0.9 {
        bail!(
            "after Hangup the right half is {:.0} % picture and the left {:.0} %",
            share_of(&after, pictured) * 100.0,
            left_after * 100.0
        );
    }
    Ok(vec![
        format!(
            "{}x{}: during the call both halves show a picture, remote vs local mean difference \
             {difference:.1} of 255; the status line reads {said_during:?}",
            connected.width, connected.height,
        ),
        format!(
            "after Hangup the right half is empty, the left still shows the camera; the status \
             line reads {said_after:?}"
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A screen whose status line shows `text` drawn as camloop draws it.
    fn showing(text: &str) -> Shot {
        let (width, height) = (640, 48);
        let mut rgb = [0x20u8; 3].repeat(width * height);
        let advance = get_raster_width(FontWeight::Regular, FONT);
        let top = height - STATUS_HEIGHT;
        for y in top..height {
            for x in 0..width {
                rgb[(y * width + x) * 3..][..3].copy_from_slice(&STATUS_BACKGROUND);
            }
        }
        for (i, c) in text.chars().enumerate() {
            let glyph = get_raster(c, FontWeight::Regular, FONT).unwrap();
            for (y, row) in glyph.rows().enumerate() {
                for (x, &alpha) in row.iter().enumerate() {
                    let at = ((top + 4 + y) * width + advance / 2 + i * advance + x) * 3;
                    for (channel, text) in [0xffu8, TEXT_GREEN, 0xa0].into_iter().enumerate() {
                        let back = STATUS_BACKGROUND[channel] as u32;
                        let alpha = alpha as u32;
                        rgb[at + channel] =
                            ((back * (255 - alpha) + text as u32 * alpha) / 255) as u8;
                    }
                }
            }
        }
        Shot { width, height, rgb }
    }

    #[test]
    fn the_status_line_is_read_back() {
        for text in [
            "camloop: connected  29.9 fps  latency 3.1 ms  812 kbit/s",
            "camloop: ready",
        ] {
            assert_eq!(showing(text).status_text(), text);
        }
        assert_eq!(showing("").status_text(), "");
    }
}
