//! The command line: `run`, `ctl`, `demo`, `check-config`, `probe`, `bench`.

use crate::buttons::ButtonHandle;
use crate::call::Event;
use crate::config::{self, ButtonSource, Config};
use crate::{bench, buttons, control, daemon, gpio, led, probe, service, signals, trace};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

mod demo;

#[derive(Parser)]
#[command(
    name = "camloop",
    version,
    about = "The WebRTC loopback sample as an appliance: camera and microphone through two peer connections to display and speaker"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon with the configured devices, buttons and outputs.
    Run {
        /// Configuration file [default: /etc/camloop/camloop.toml, else built-in defaults]
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Drive a running daemon over its control socket.
    Ctl {
        /// Control socket [default: [control] socket of the default configuration]
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Seconds to wait for the daemon's answer.
        #[arg(long, default_value = "5", value_parser = seconds)]
        timeout: Duration,
        #[arg(value_parser = control::COMMANDS.to_vec())]
        command: String,
    },
    /// One call with the test-pattern camera and the tone microphone, written to files.
    Demo {
        /// Seconds between Connected and Hangup.
        #[arg(long, default_value = "10", value_parser = seconds)]
        duration: Duration,
        /// Folder for remote.y4m, remote.wav and stats.json.
        #[arg(long, default_value = "target/demo")]
        out: PathBuf,
        /// Configuration file for sizes, rates and bitrates.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Keys instead of the script: c = Call, h = Hangup, q = quit.
        #[arg(long)]
        interactive: bool,
    },
    /// Validate a configuration file.
    CheckConfig { file: PathBuf },
    /// List the cameras, sound devices and GPIO chips, and try each device the config names.
    Probe {
        /// Configuration file [default: /etc/camloop/camloop.toml, else built-in defaults]
        #[arg(long)]
        config: Option<PathBuf>,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Turn the configured LED off and exit (the service's ExecStopPost, whatever camloop did).
    LedOff {
        /// Configuration file [default: /etc/camloop/camloop.toml, else built-in defaults]
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Measure setup time, loop latency, CPU and memory of calls at 640x480 and 1280x720, or
    /// with --codec what the codec alone costs a frame.
    Bench(bench::BenchArgs),
}

/// A second SIGINT or SIGTERM: the process ends now, whatever the daemon is doing.
fn exit_at_once() {
    std::process::exit(1);
}

/// Exit code for configuration and usage errors.
const USAGE: u8 = 2;

pub fn main() -> ExitCode {
    let signals = signals::block();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { USAGE } else { 0 });
        }
    };
    if !matches!(cli.command, Command::Run { .. } | Command::Demo { .. }) {
        signals.restore();
    }
    match cli.command {
        Command::CheckConfig { file } => match Config::load(&file) {
            Ok(config) => {
                for problem in config.written_file_problems() {
                    eprintln!("camloop: warning: {problem}");
                }
                println!("{}: ok", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => fail(USAGE, e),
        },
        Command::Probe { config, json } => match load(config.as_deref()) {
            // In a runtime: GPIO buttons are opened for async edge events.
            Ok(config) => runtime(|| async move {
                let found = probe::collect(&config);
                if json {
                    match serde_json::to_string_pretty(&found) {
                        Ok(text) => println!("{text}"),
                        Err(e) => return fail(1, e),
                    }
                } else {
                    print!("{}", probe::format(&found));
                }
                ExitCode::SUCCESS
            }),
            Err(e) => fail(USAGE, e),
        },
        Command::Run { config: path } => match load(path.as_deref()) {
            Ok(config) => runtime(|| run(config, signals, move || load(path.as_deref()))),
            Err(e) => fail(USAGE, e),
        },
        Command::Ctl {
            socket,
            timeout,
            command,
        } => {
            let socket = match socket {
                Some(s) => s,
                None => match load(None) {
                    Ok(c) => c.control_socket,
                    Err(e) => return fail(USAGE, e),
                },
            };
            runtime(|| async move {
                match control::send(&socket, &command, timeout).await {
                    Ok(answer) => {
                        println!("{answer}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(1, e),
                }
            })
        }
        Command::Demo {
            duration,
            out,
            config,
            interactive,
        } => {
            let out_folder = out.clone();
            let reload = move || {
                let given = config.as_deref().map(Config::load).transpose()?;
                Ok(demo::config(
                    given.unwrap_or_default(),
                    &out_folder,
                    interactive,
                ))
            };
            let config = match reload() {
                Ok(config) => config,
                Err(e) => return fail(USAGE, e),
            };
            if let Err(e) = std::fs::create_dir_all(&out) {
                return fail(
                    1,
                    format!("cannot create the output folder {}: {e}", out.display()),
                );
            }
            runtime(|| demo::run(config, out, duration, signals, reload))
        }
        Command::LedOff { config } => match load(config.as_deref()) {
            Ok(Config { led: None, .. }) => {
                println!("no [led] configured");
                ExitCode::SUCCESS
            }
            // Requested off, released as it is: the line keeps its level.
            Ok(Config { led: Some(led), .. }) => match gpio::open_led(&led) {
                Ok(_) => {
                    println!("LED {} on {} off", led.line, led.chip);
                    ExitCode::SUCCESS
                }
                Err(e) => fail(1, format!("LED: {e}")),
            },
            Err(e) => fail(USAGE, e),
        },
        Command::Bench(args) => {
            init_logging(log::LevelFilter::Warn);
            args.codec_only()
                .unwrap_or_else(|| runtime(|| bench::run(args)))
        }
    }
}

/// A positive number of seconds, up to [`MAX_SECONDS`].
fn seconds(text: &str) -> Result<Duration, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero() && d.as_secs_f64() <= MAX_SECONDS)
        .ok_or_else(|| format!("{text} s: give a number of seconds above 0, up to {MAX_SECONDS:e}"))
}

/// About 31 years: longer than any wait a person means, short enough for any clock arithmetic.
const MAX_SECONDS: f64 = 1e9;

fn fail(code: u8, error: impl std::fmt::Display) -> ExitCode {
    eprintln!("camloop: {error}");
    ExitCode::from(code)
}

/// The given file, else the default file if present, else the built-in defaults.
fn load(path: Option<&Path>) -> Result<Config, config::ConfigError> {
    match path {
        Some(path) => Config::load(path),
        None if Path::new(config::DEFAULT_PATH).exists() => {
            Config::load(Path::new(config::DEFAULT_PATH))
        }
        None => Ok(Config::default()),
    }
}

fn runtime<F: Future<Output = ExitCode>>(body: impl FnOnce() -> F) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => {
            let code = rt.block_on(body());
            // Media threads end on their own; do not wait for stray blocking tasks.
            rt.shutdown_timeout(Duration::from_millis(200));
            code
        }
        Err(e) => fail(1, format!("cannot start the async runtime: {e}")),
    }
}

pub fn init_logging(level: log::LevelFilter) {
    // The WebRTC stack warns about routine steps of a loopback setup (no candidate pairs yet,
    // no server name for DTLS); below debug, only its errors are worth a user's attention.
    let others = if level >= log::LevelFilter::Debug {
        log::LevelFilter::Warn
    } else {
        log::LevelFilter::Error
    };
    // Trace lines carry their own seconds; journald adds wall-clock time. At debug, the
    // libraries' lines get the same clock, so a call's setup reads as one timeline.
    let _ = env_logger::Builder::new()
        .filter_level(others)
        .filter_module("camloop", level)
        .parse_env("RUST_LOG")
        .format(|out, record| {
            use std::io::Write;
            if record.target() == "camloop::trace" {
                writeln!(out, "{}", record.args())
            } else {
                let line = format!("{}: {}", record.level(), record.args());
                writeln!(
                    out,
                    "{}",
                    crate::trace::format(crate::trace::since_start(), &line, crate::trace::micro())
                )
            }
        })
        .try_init();
}

async fn run(
    config: Config,
    signals: signals::Blocked,
    reload: impl Fn() -> Result<Config, config::ConfigError> + Send + 'static,
) -> ExitCode {
    init_logging(config.log_level);
    trace::start();
    for problem in config.written_file_problems() {
        log::warn!("{problem}");
    }
    let (led, buttons) = match gpio_devices(&config) {
        Ok(devices) => devices,
        Err(e) => return fail(1, e),
    };
    let daemon = daemon::spawn(config.clone());
    signals.forward(daemon.inputs.clone(), reload, exit_at_once);
    let _server = match control::serve(&config.control_socket, &daemon, config.debug_commands) {
        Ok(server) => server,
        Err(e) => {
            daemon.press(Event::Shutdown);
            let _ = daemon.done.await;
            return fail(1, e);
        }
    };
    // The pin was requested off: until here, nothing has lit it.
    let led = led.map(|pin| tokio::spawn(led::drive(pin, daemon.led.clone())));
    if let Some(lines) = buttons {
        let handle = ButtonHandle::new(&daemon);
        tokio::spawn(async move {
            lines
                .run(|button| handle.press(button), handle.closed())
                .await;
        });
    }
    if config.buttons == ButtonSource::Keyboard {
        buttons::keyboard(daemon.inputs.clone());
    }
    let notifier = tokio::spawn(service::notify(daemon.inputs.clone(), daemon.state.clone()));
    let done = daemon.done.await;
    // It tells systemd STOPPING=1 once it sees the daemon gone: not lost to the runtime's end.
    let _ = tokio::time::timeout(Duration::from_secs(2), notifier).await;
    // The daemon is gone, so the LED task turns the LED off and ends.
    drop(daemon.led);
    if let Some(led) = led {
        let _ = led.await;
    }
    match done {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => fail(1, format!("the daemon task failed: {e}")),
    }
}

/// The LED and the GPIO buttons the config names, opened before the daemon's first command.
fn gpio_devices(
    config: &Config,
) -> Result<
    (
        Option<linux_embedded_hal::CdevPin>,
        Option<gpio::GpioButtonLines>,
    ),
    String,
> {
    let led = match &config.led {
        Some(led) => Some(gpio::open_led(led).map_err(|e| format!("LED: {e}"))?),
        None => None,
    };
    let buttons = match &config.buttons {
        ButtonSource::Gpio(buttons) => {
            Some(gpio::open_buttons(buttons).map_err(|e| format!("buttons: {e}"))?)
        }
        _ => None,
    };
    Ok((led, buttons))
}
