//! Running QEMU for a board test: the console to a log, qtest and QMP for the panel (the buttons,
//! the LED, the screen), which serves the guest until it powers off or a limit passes.

use super::panel;
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills QEMU on every path out, including errors and panics in the harness.
struct Qemu(Child);

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How long a boot may take to reach the scenario, and to power off.
pub struct Limits {
    pub init: Duration,
    pub all: Duration,
}

/// Runs QEMU, set up for its board but for the console, qtest and QMP, with the panel serving
/// the guest until it powers off; what the console said, and the panel's figures.
pub fn run(
    mut qemu: Command,
    gpio: panel::Gpio,
    work: &Path,
    board: &str,
    limits: Limits,
) -> Result<(String, Result<Vec<String>>)> {
    let console_path = work.join("console.log");
    let qtest = work.join("qtest.sock");
    let qmp = work.join("qmp.sock");
    for socket in [&qtest, &qmp] {
        let _ = std::fs::remove_file(socket);
    }
    let console = std::fs::File::create(&console_path)?;
    qemu.args(["-no-reboot", "-monitor", "none", "-serial", "stdio"])
        // The buttons and the LED, worked from the host (panel.rs).
        .arg("-qtest")
        .arg(format!("unix:{},server=on,wait=off", qtest.display()))
        .args(["-qtest-log", "none"])
        // The screen, dumped from the host (screen.rs).
        .arg("-qmp")
        .arg(format!("unix:{},server=on,wait=off", qmp.display()))
        // The guest's console input: the harness answers there.
        .stdin(Stdio::piped())
        .stdout(console.try_clone()?)
        .stderr(console);
    eprintln!(
        "xtask: booting the emulated {board} board (console in {})",
        console_path.display()
    );
    let booted = Instant::now();
    let mut qemu = Qemu(qemu.spawn().context("cannot start qemu-system-aarch64")?);
    let guest = qemu.0.stdin.take().context("QEMU's stdin")?;
    let running = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let panel = {
        let running = running.clone();
        let console = console_path.clone();
        std::thread::spawn(move || -> Result<Vec<String>> {
            let mut panel = panel::Panel::connect(&gpio, &qtest, &qmp, &console, guest)?;
            panel.serve(|| running.load(std::sync::atomic::Ordering::Relaxed))?;
            Ok(panel.figures)
        })
    };
    let mut init_seen = false;
    let status = loop {
        if let Some(status) = qemu.0.try_wait()? {
            break status;
        }
        if !init_seen {
            let console = read_console(&console_path)?;
            init_seen = console.contains("camloop-board: init ");
            if init_seen {
                eprintln!(
                    "xtask: /init started {:.1} s after QEMU (wall clock)",
                    booted.elapsed().as_secs_f64()
                );
            }
            if !init_seen && booted.elapsed() > limits.init {
                drop(qemu);
                let tail: Vec<&str> = console.lines().rev().take(5).collect();
                bail!(
                    "the board never reached /init within {} s (a kernel panic hangs QEMU); the console ended with: {}",
                    limits.init.as_secs(),
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                );
            }
        }
        if booted.elapsed() > limits.all {
            drop(qemu);
            bail!(
                "the board did not power off within {} s; console in {}",
                limits.all.as_secs(),
                console_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    running.store(false, std::sync::atomic::Ordering::Relaxed);
    let panel = panel
        .join()
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the panel thread panicked")));
    let console = read_console(&console_path)?;
    eprintln!(
        "xtask: QEMU ran {:.1} s and exited with {status}",
        booted.elapsed().as_secs_f64()
    );
    Ok((console, panel))
}

/// The console log as text: early boot can put bytes on the serial line that are not UTF-8.
fn read_console(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
