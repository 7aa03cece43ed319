//! The local stream: camera and microphone opened from the config, each read by its own thread
//! into a drop-oldest queue, so a slow call never stalls a device. This is the sample's
//! `getUserMedia`: it runs from start to exit, whether or not a call is up.

use crate::audio::AudioSource;
use crate::audio::tone::ToneMicrophone;
use crate::camera::VideoSource;
use crate::camera::pattern::{Pattern, PatternCamera};
use crate::config::{AudioSource as AudioKind, CameraSource, Config};
use crate::media::frame::{AudioBlock, Frame};
use crate::media::queue::DropOldest;
use std::sync::Arc;
use std::thread::JoinHandle;

/// Frames a consumer may lag behind before the oldest is dropped.
const VIDEO_QUEUE: usize = 2;
/// 60 ms of audio.
const AUDIO_QUEUE: usize = 3;

pub struct LocalStream {
    pub video: Arc<DropOldest<Frame>>,
    pub audio: Option<Arc<DropOldest<AudioBlock>>>,
    /// The source picture of every frame, where it is known (the test pattern).
    pub reference: Option<Pattern>,
    pub fps: u32,
    pub description: String,
    threads: Vec<JoinHandle<()>>,
}

/// Called from a capture thread when its device fails; the stream is then dead.
pub type OnFailure = Arc<dyn Fn(String) + Send + Sync>;

impl LocalStream {
    pub fn open(config: &Config, on_failure: OnFailure) -> Result<LocalStream, String> {
        let camera = &config.camera;
        let (video_source, reference): (Box<dyn VideoSource>, _) = match camera.source {
            CameraSource::Pattern => (
                Box::new(PatternCamera::new(camera.width, camera.height, camera.fps)),
                Some(Pattern {
                    width: camera.width as usize,
                    height: camera.height as usize,
                }),
            ),
        };
        let audio_source: Option<Box<dyn AudioSource>> =
            match (config.audio.enabled, config.audio.source) {
                (false, _) => None,
                (true, AudioKind::Tone) => {
                    Some(Box::new(ToneMicrophone::new(config.audio.tone_hz)))
                }
            };
        let description = format!(
            "video device: {}; audio device: {}",
            video_source.describe(),
            audio_source
                .as_ref()
                .map_or("none (audio disabled)".into(), |a| a.describe())
        );

        let video = Arc::new(DropOldest::new(VIDEO_QUEUE));
        let mut threads = vec![spawn_reader(
            "camera",
            video_source,
            video.clone(),
            on_failure.clone(),
            |s| s.next_frame().map_err(|e| e.to_string()),
        )];
        let audio = audio_source.map(|source| {
            let queue = Arc::new(DropOldest::new(AUDIO_QUEUE));
            threads.push(spawn_reader(
                "microphone",
                source,
                queue.clone(),
                on_failure.clone(),
                |s| s.next_block().map_err(|e| e.to_string()),
            ));
            queue
        });
        Ok(LocalStream {
            video,
            audio,
            reference,
            fps: camera.fps,
            description,
            threads,
        })
    }

    /// Stops the capture threads and waits for them.
    pub fn close(self) {
        self.video.close();
        if let Some(audio) = &self.audio {
            audio.close();
        }
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

fn spawn_reader<S: ?Sized + Send + 'static, T: Send + 'static>(
    name: &str,
    mut source: Box<S>,
    queue: Arc<DropOldest<T>>,
    on_failure: OnFailure,
    read: fn(&mut S) -> Result<T, String>,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            while !queue.is_closed() {
                match read(&mut source) {
                    Ok(item) => queue.push(item),
                    Err(e) => {
                        on_failure(e);
                        return;
                    }
                }
            }
        })
        .expect("spawning a capture thread")
}
