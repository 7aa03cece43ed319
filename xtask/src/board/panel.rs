//! The board's buttons and LED, worked from the host as a person would: QEMU's qtest protocol
//! drives the GPIO input lines (a press with contact bounce) and reads the LED's level from the
//! GPIO block's registers, and the LED's patterns are recognised by their timing. The guest asks
//! for presses with `camloop-board: press NAME` and for the button phases with
//! `camloop-board: gpio-phase MODE`; the host answers on the guest's console.

use super::screen::{self, Qmp};
use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ChildStdin;
use std::time::{Duration, Instant};

/// The GPIO block a board's buttons and LED are on.
pub enum Gpio {
    /// `virt`'s PL061, found through QMP: lines CALL 0, HANGUP 1, LED 2.
    Pl061,
    /// `raspi3b`'s BCM2835, LED on line 22. QEMU's model has no input events, so a press is
    /// asked of the guest, which sends `camloop ctl`.
    Bcm2835,
}

/// PL061 data register with every line in its address mask.
const PL061_DATA: &str = "0x090303fc";
const PL061_BUTTONS: [(&str, u32); 2] = [("CALL", 0), ("HANGUP", 1)];
const PL061_LED: u32 = 2;
/// BCM2835 GPLEV0, the levels of lines 0–31.
const BCM2835_LEVELS: &str = "0x3f200034";
const BCM2835_LED: u32 = 22;
/// How long a press is held, after its bounce.
const HOLD: Duration = Duration::from_millis(150);
const SAMPLE: Duration = Duration::from_millis(5);
/// On this long without a change is "steady on" (Connected).
const STEADY: Duration = Duration::from_millis(1500);
/// From Connected until the screen has shown pictures from both ends, under emulation.
const PICTURES_SHOWN: Duration = Duration::from_secs(4);

pub struct Panel {
    /// QEMU's QMP socket, where the screen is dumped.
    qmp: PathBuf,
    qtest: BufReader<UnixStream>,
    /// The PL061's QOM path where the buttons can be pressed; none where the guest is asked.
    pl061: Option<String>,
    /// The register holding the LED's level, and its bit.
    led: (&'static str, u32),
    console: Console,
    /// The guest's console input, where the harness answers.
    guest: ChildStdin,
    /// What the harness measured, one line each, for the summary.
    pub figures: Vec<String>,
}

impl Panel {
    /// Connects to QEMU's qtest and QMP sockets, retrying while QEMU starts.
    pub fn connect(
        gpio: &Gpio,
        qtest: &Path,
        qmp: &Path,
        console: &Path,
        guest: ChildStdin,
    ) -> Result<Panel> {
        let (pl061, led) = match gpio {
            Gpio::Pl061 => (Some(find_pl061(connect(qmp)?)?), (PL061_DATA, PL061_LED)),
            Gpio::Bcm2835 => (None, (BCM2835_LEVELS, BCM2835_LED)),
        };
        Ok(Panel {
            qmp: qmp.to_path_buf(),
            qtest: BufReader::new(connect(qtest)?),
            pl061,
            led,
            console: Console {
                path: console.to_path_buf(),
                offset: 0,
                partial: String::new(),
            },
            guest,
            figures: Vec::new(),
        })
    }

    /// A word on the guest's console (the scenario's `host_says`).
    fn tell(&mut self, word: &str) -> Result<()> {
        self.guest
            .write_all(format!("{word}\n").as_bytes())
            .and_then(|()| self.guest.flush())
            .context("writing to the guest's console")
    }

    fn qtest(&mut self, command: &str) -> Result<String> {
        self.qtest
            .get_mut()
            .write_all(format!("{command}\n").as_bytes())?;
        let mut reply = String::new();
        self.qtest.read_line(&mut reply)?;
        match reply.strip_prefix("OK") {
            Some(rest) => Ok(rest.trim().to_owned()),
            None => bail!("qtest `{command}`: {}", reply.trim()),
        }
    }

    /// A press of button `name` (CALL, HANGUP): on the PL061 20 ms of bounce, held, and a
    /// bouncing release; elsewhere the guest is asked.
    pub fn press(&mut self, name: &str) -> Result<()> {
        let Some(pl061) = self.pl061.clone() else {
            return self.tell(&name.to_lowercase());
        };
        let line = line_of(name)?;
        let mut set = |level: bool, ms: u64| -> Result<()> {
            self.qtest(&format!(
                "set_irq_in {pl061} unnamed-gpio-in {line} {}",
                u8::from(level)
            ))?;
            std::thread::sleep(Duration::from_millis(ms));
            Ok(())
        };
        for (level, ms) in [(true, 3), (false, 2), (true, 4), (false, 3), (true, 8)] {
            set(level, ms)?;
        }
        std::thread::sleep(HOLD);
        for (level, ms) in [(false, 2), (true, 3), (false, 1)] {
            set(level, ms)?;
        }
        Ok(())
    }

    fn led(&mut self) -> Result<bool> {
        let (register, bit) = self.led;
        let value = self.qtest(&format!("readl {register}"))?;
        let bits = u64::from_str_radix(value.trim_start_matches("0x"), 16)
            .with_context(|| format!("readl gave {value}"))?;
        Ok(bits & (1 << bit) != 0)
    }

    /// Samples the LED until `wanted` is recognised or `timeout` passes; returns when it began
    /// and what was measured.
    fn wait_led(&mut self, wanted: Pattern, timeout: Duration) -> Result<(Instant, String)> {
        let started = Instant::now();
        let mut edges: Vec<(Instant, bool)> = Vec::new();
        let mut level = self.led()?;
        let mut since = started;
        loop {
            let now = Instant::now();
            let on = self.led()?;
            if on != level {
                edges.push((now, on));
                (level, since) = (on, now);
            }
            match wanted {
                Pattern::SteadyOn if level && now - since >= STEADY => {
                    return Ok((since, "steady on".into()));
                }
                Pattern::Heartbeat => {
                    if let Some(found) = heartbeat(&edges) {
                        return Ok(found);
                    }
                }
                _ => {}
            }
            if now - started > timeout {
                bail!(
                    "the LED did not show {wanted:?} within {} s ({} changes seen, now {})",
                    timeout.as_secs(),
                    edges.len(),
                    if level { "on" } else { "off" }
                );
            }
            std::thread::sleep(SAMPLE);
        }
    }

    /// Answers the guest's requests until it powers off.
    pub fn serve(&mut self, qemu_running: impl Fn() -> bool) -> Result<()> {
        while qemu_running() {
            let Some(line) = self.console.next_line()? else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            let Some(request) = line.trim().strip_prefix("camloop-board: ") else {
                continue;
            };
            if let Some(name) = request.strip_prefix("press ") {
                self.press(name)?;
            } else if let Some(name) = request.strip_prefix("screendump ") {
                self.screendump(name.trim())?;
                self.tell("shot")?;
            } else if request.trim() == "led-query" {
                let lit = self.led()?;
                self.tell(if lit { "on" } else { "off" })?;
            } else if let Some(phase) = request.strip_prefix("gpio-phase ") {
                let (mode, screen) = match phase.trim().split_once(' ') {
                    Some((mode, "screen")) => (mode, true),
                    _ => (phase.trim(), false),
                };
                self.button_phase(mode, screen)
                    .with_context(|| format!("buttons and LED, {mode} mode"))?;
            }
        }
        Ok(())
    }

    /// The screen as QEMU shows it, into `screen-{name}.png` beside the QMP socket.
    fn screendump(&mut self, name: &str) -> Result<()> {
        let to = self.qmp.with_file_name(format!("screen-{name}.png"));
        screen::dump(&mut Qmp::open(connect(&self.qmp)?)?, &to)
            .with_context(|| format!("the screendump {name}"))
    }

    /// What a person does with the buttons while watching the LED (and with `screen`, the
    /// screen, dumped once connected and once ready again): Call, Hangup, Call (in toggle mode
    /// the one button each time). The guest then stops camloop with SIGTERM.
    fn button_phase(&mut self, mode: &str, screen: bool) -> Result<()> {
        let second = if mode == "toggle" { "CALL" } else { "HANGUP" };
        let press = if self.pl061.is_some() {
            "press"
        } else {
            "(ctl)"
        };
        let (_, heartbeat) = self.wait_led(Pattern::Heartbeat, Duration::from_secs(30))?;
        self.figures.push(format!("{mode}: Ready, LED {heartbeat}"));
        let pressed = Instant::now();
        self.press("CALL")?;
        let (lit, _) = self.wait_led(Pattern::SteadyOn, Duration::from_secs(60))?;
        self.figures.push(format!(
            "{mode}: Call {press} → Connected (LED steady on) in {:.2} s",
            (lit - pressed).as_secs_f64()
        ));
        if screen {
            // Time for pictures to pass through both peers and reach the screen.
            std::thread::sleep(PICTURES_SHOWN);
            self.screendump("connected")?;
        }
        self.press(second)?;
        let (_, heartbeat) = self.wait_led(Pattern::Heartbeat, Duration::from_secs(30))?;
        if screen {
            self.screendump("ready")?;
        }
        self.figures
            .push(format!("{mode}: Hangup {press} → Ready, LED {heartbeat}"));
        let pressed = Instant::now();
        self.press("CALL")?;
        let (lit, _) = self.wait_led(Pattern::SteadyOn, Duration::from_secs(60))?;
        self.figures.push(format!(
            "{mode}: Call again → Connected in {:.2} s",
            (lit - pressed).as_secs_f64()
        ));
        // Seen: the guest may stop camloop now.
        self.tell("stop")?;
        let exit = self
            .console
            .wait_marker("gpio-exit", Duration::from_secs(60))?;
        if self.led()? {
            bail!("the LED is still lit after camloop exited ({exit})");
        }
        self.figures
            .push(format!("{mode}: SIGTERM → exit {exit}, LED off"));
        if exit != "0" {
            bail!("camloop exited with {exit} after SIGTERM");
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug)]
enum Pattern {
    SteadyOn,
    Heartbeat,
}

/// The last full heartbeat cycle in `edges` (on 100 ms every 2 s, with emulation's slack).
fn heartbeat(edges: &[(Instant, bool)]) -> Option<(Instant, String)> {
    edges.windows(3).rev().find_map(|w| {
        let [(rise, true), (fall, false), (next, true)] = w else {
            return None;
        };
        let (on, period) = (*fall - *rise, *next - *rise);
        let ok =
            (50..=300).contains(&on.as_millis()) && (1600..=2600).contains(&period.as_millis());
        ok.then(|| {
            (
                *rise,
                format!(
                    "heartbeat: on {} ms every {} ms",
                    on.as_millis(),
                    period.as_millis()
                ),
            )
        })
    })
}

fn line_of(name: &str) -> Result<u32> {
    PL061_BUTTONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, l)| l)
        .with_context(|| format!("the guest asked to press {name}, which is no button"))
}

fn connect(path: &Path) -> Result<UnixStream> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        match UnixStream::connect(path) {
            Ok(stream) => {
                stream.set_read_timeout(Some(Duration::from_secs(10)))?;
                return Ok(stream);
            }
            Err(e) if Instant::now() > until => {
                return Err(e).with_context(|| format!("connecting to {}", path.display()));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// The PL061's QOM path, from QMP's `qom-list` (its index changes with the machine's options).
fn find_pl061(stream: UnixStream) -> Result<String> {
    let mut qmp = Qmp::open(stream)?;
    let list =
        qmp.execute(r#"{"execute":"qom-list","arguments":{"path":"/machine/unattached"}}"#)?;
    list["return"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|child| child["type"] == "child<pl061>")
        .and_then(|child| child["name"].as_str())
        .map(|name| format!("/machine/unattached/{name}"))
        .context("no PL061 in QEMU's /machine/unattached")
}

/// The guest console log as QEMU writes it, read line by line as it grows.
struct Console {
    path: PathBuf,
    offset: u64,
    partial: String,
}

impl Console {
    fn next_line(&mut self) -> Result<Option<String>> {
        if !self.partial.contains('\n') {
            let mut file = std::fs::File::open(&self.path)?;
            file.seek(SeekFrom::Start(self.offset))?;
            let mut more = Vec::new();
            file.read_to_end(&mut more)?;
            self.offset += more.len() as u64;
            self.partial.push_str(&String::from_utf8_lossy(&more));
        }
        Ok(self.partial.find('\n').map(|end| {
            let line = self.partial[..end].to_owned();
            self.partial.drain(..=end);
            line
        }))
    }

    /// The value of the next `camloop-board: KEY VALUE` line.
    fn wait_marker(&mut self, key: &str, timeout: Duration) -> Result<String> {
        let until = Instant::now() + timeout;
        let prefix = format!("camloop-board: {key} ");
        while Instant::now() < until {
            match self.next_line()? {
                Some(line) => {
                    if let Some(value) = line.trim().strip_prefix(&prefix) {
                        return Ok(value.to_owned());
                    }
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        bail!(
            "the guest did not report {key} within {} s",
            timeout.as_secs()
        )
    }
}
