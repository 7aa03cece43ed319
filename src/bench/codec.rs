//! `camloop bench --codec`: the codec alone, on this thread, with no call: each size and
//! picture rendered, encoded and decoded frame by frame at the call's settings, and each
//! stage's median time a frame printed. On a board this is what one core costs a picture;
//! under `cargo xtask instructions` runs that stop after one stage or another are counted
//! instruction by instruction and subtracted, so the process must do its work on one thread.

use super::call::{codec_config, encoder_settings};
use super::{Stage, parse_size};
use crate::camera::pattern::Pattern;
use crate::config::Picture;
use crate::media::h264::{H264Decoder, H264Encoder};
use crate::stats::quantile;
use std::process::ExitCode;
use std::time::Instant;

pub(super) fn run(sizes: &[String], pictures: &[Picture], frames: u32, last: Stage) -> ExitCode {
    println!(
        "{:<16} {:>7} {:>10} {:>10} {:>10} {:>10}",
        "picture", "frames", "render ms", "encode ms", "decode ms", "kB/frame"
    );
    for size in sizes {
        for &picture in pictures {
            let case = format!("{size} {}", picture.name());
            match stages(size, picture, frames, last) {
                Ok(t) => {
                    let ms = |times: &[f64]| {
                        quantile(times, 0.5).map_or("-".into(), |m| format!("{m:.2}"))
                    };
                    let kb = match t.encoded {
                        0 => "-".into(),
                        n => format!("{:.1}", t.bytes as f64 / n as f64 / 1000.0),
                    };
                    println!(
                        "{case:<16} {frames:>7} {:>10} {:>10} {:>10} {kb:>10}",
                        ms(&t.render),
                        ms(&t.encode),
                        ms(&t.decode)
                    );
                }
                Err(e) => {
                    eprintln!("camloop bench --codec: {case}: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    ExitCode::SUCCESS
}

/// Each stage's time a frame, in ms, and the frames and bytes the encoder gave.
#[derive(Default)]
struct Times {
    render: Vec<f64>,
    encode: Vec<f64>,
    decode: Vec<f64>,
    encoded: usize,
    bytes: usize,
}

fn stages(size: &str, picture: Picture, frames: u32, last: Stage) -> Result<Times, String> {
    let (width, height) = parse_size(size).ok_or_else(|| format!("bad size {size:?}"))?;
    let settings = encoder_settings(&codec_config(width, height, picture));
    let mut encoder = H264Encoder::new(&settings).map_err(|e| e.to_string())?;
    let mut decoder = H264Decoder::new().map_err(|e| e.to_string())?;
    let pattern = Pattern::new(picture, settings.width, settings.height);
    let mut times = Times::default();
    let since = |began: Instant| began.elapsed().as_secs_f64() * 1000.0;
    for id in 0..frames {
        let began = Instant::now();
        let frame = pattern.frame(id);
        times.render.push(since(began));
        if last == Stage::Render {
            continue;
        }
        let began = Instant::now();
        let encoded = encoder.encode(&frame).map_err(|e| e.to_string())?;
        // A frame rate control skipped costs encode time too, and decodes as nothing.
        times.encode.push(since(began));
        let Some(encoded) = encoded else { continue };
        times.encoded += 1;
        times.bytes += encoded.data.len();
        if last == Stage::Encode {
            continue;
        }
        let began = Instant::now();
        decoder.decode(&encoded.data).map_err(|e| e.to_string())?;
        times.decode.push(since(began));
    }
    Ok(times)
}
