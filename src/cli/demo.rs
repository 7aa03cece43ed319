//! `camloop demo`: one call from the test pattern and the tone to files, checked once written.

use super::{fail, init_logging};
use crate::config::{self, AudioOutput, ButtonSource, Config, VideoOutput};
use crate::{buttons, daemon, signals, trace};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// The demo's sources and sinks: test pattern, tone, files in `out`.
pub(super) fn config(mut config: Config, out: &Path, interactive: bool) -> Config {
    config.camera.source = config::CameraSource::Pattern;
    config.audio.source = config::AudioSource::Tone;
    config.output.video = VideoOutput::Y4m(out.join("remote.y4m"));
    config.output.audio = AudioOutput::Wav(out.join("remote.wav"));
    config.stats.report = Some(out.join("stats.json"));
    config.buttons = if interactive {
        ButtonSource::Keyboard
    } else {
        ButtonSource::None
    };
    config
}

pub(super) async fn run(
    config: Config,
    out: PathBuf,
    duration: Duration,
    signals: signals::Blocked,
    reload: impl Fn() -> Result<Config, config::ConfigError> + Send + 'static,
) -> ExitCode {
    init_logging(config.log_level);
    trace::start();
    let mut daemon = daemon::spawn(config.clone());
    signals.forward(daemon.inputs.clone(), reload, super::exit_at_once);
    let interactive = config.buttons == ButtonSource::Keyboard;
    let script = if interactive {
        println!("Keys: c = Call, h = Hangup, q = quit");
        buttons::keyboard(daemon.inputs.clone());
        Ok(())
    } else {
        buttons::press_call_then_hangup(&mut daemon, duration, config.call.connect_timeout).await
    };
    let report = match daemon.done.await {
        Ok(report) => report,
        Err(e) => return fail(1, format!("the daemon task failed: {e}")),
    };
    if let Err(why) = script {
        return fail(1, why);
    }
    let Some(report) = report else {
        println!("no call was made");
        return ExitCode::SUCCESS;
    };
    println!("{}", report.summary());
    let written = ["remote.y4m", "remote.wav", "stats.json"].map(|name| out.join(name));
    if let Err(why) = written.iter().try_for_each(|path| check_written(path)) {
        return fail(1, why);
    }
    println!(
        "wrote {}/remote.y4m, remote.wav and stats.json",
        out.display()
    );
    ExitCode::SUCCESS
}

/// An output the demo promises, checked: there and not empty, and the JSON report read back whole.
fn check_written(path: &Path) -> Result<(), String> {
    let unwritten = |why: String| format!("{} was not written: {why}", path.display());
    let size = std::fs::metadata(path)
        .map_err(|e| unwritten(e.to_string()))?
        .len();
    if size == 0 {
        return Err(unwritten("it is empty (is the disk full?)".into()));
    }
    if path.extension().is_some_and(|e| e == "json") {
        let text = std::fs::read(path).map_err(|e| unwritten(e.to_string()))?;
        serde_json::from_slice::<serde_json::Value>(&text)
            .map_err(|e| unwritten(format!("it is not whole: {e}")))?;
    }
    Ok(())
}
