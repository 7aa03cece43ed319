//! A QEMU TCG plugin that counts the guest instructions a process executes, for `cargo xtask
//! instructions`: emulated wall time says nothing about a board, instruction counts do.
//!
//! Each translated block adds its length to one counter when it runs (an inline add, no call),
//! and the number of its instructions inside OpenH264's NEON functions to a second one. Those
//! functions are written in assembly without sizes in the symbol table, so QEMU cannot name
//! them; `neon=FILE` gives their address ranges as the binary has them (`START END` in hex, a
//! line each) and `code=HEX` where its executable segment starts, from which the address the
//! loader put it at follows.
//! The counters are shared by all guest threads, so counts are exact for a guest doing its work
//! on one thread, as `camloop bench --codec` does. At exit it writes `instructions N`, `neon N`
//! and `threads N` to QEMU's log (`-D FILE`).
//!
//! No Debian package ships `qemu-plugin.h`; the few declarations below are those of QEMU 7.2's
//! (plugin API version 1), which Debian 12's dynamically linked `qemu-aarch64` exports.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

type PluginId = u64;

/// `qemu_info_t`: only read to check the target.
#[repr(C)]
pub struct QemuInfo {
    target_name: *const c_char,
    version_min: c_int,
    version_cur: c_int,
    system_emulation: bool,
}

#[repr(C)]
pub struct Tb {
    _opaque: [u8; 0],
}

#[repr(C)]
pub struct Insn {
    _opaque: [u8; 0],
}

/// `QEMU_PLUGIN_INLINE_ADD_U64`, the one inline operation of API 1.
const INLINE_ADD_U64: c_int = 0;

unsafe extern "C" {
    fn qemu_plugin_register_vcpu_tb_trans_cb(
        id: PluginId,
        cb: unsafe extern "C" fn(PluginId, *mut Tb),
    );
    fn qemu_plugin_register_vcpu_tb_exec_inline(
        tb: *mut Tb,
        op: c_int,
        counter: *mut c_void,
        imm: u64,
    );
    fn qemu_plugin_register_vcpu_init_cb(id: PluginId, cb: unsafe extern "C" fn(PluginId, u32));
    fn qemu_plugin_register_atexit_cb(
        id: PluginId,
        cb: unsafe extern "C" fn(PluginId, *mut c_void),
        userdata: *mut c_void,
    );
    fn qemu_plugin_tb_n_insns(tb: *const Tb) -> usize;
    fn qemu_plugin_tb_get_insn(tb: *const Tb, index: usize) -> *mut Insn;
    fn qemu_plugin_insn_vaddr(insn: *const Insn) -> u64;
    fn qemu_plugin_start_code() -> u64;
    fn qemu_plugin_outs(text: *const c_char);
}

#[unsafe(no_mangle)]
pub static qemu_plugin_version: c_int = 1;

static INSTRUCTIONS: AtomicU64 = AtomicU64::new(0);
static NEON: AtomicU64 = AtomicU64::new(0);
/// The NEON functions' address ranges and the start of the code, as linked.
static NEON_CODE: OnceLock<(Vec<(u64, u64)>, u64)> = OnceLock::new();
/// How far the loader moved the binary: known once it is loaded, before its first block runs.
static LOAD_BIAS: OnceLock<u64> = OnceLock::new();
/// Guest threads started: one vCPU each under qemu-user.
static THREADS: AtomicU64 = AtomicU64::new(0);

/// # Safety
/// Called by QEMU once, with its own `info` and `argc` arguments.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qemu_plugin_install(
    id: PluginId,
    info: *const QemuInfo,
    argc: c_int,
    argv: *mut *mut c_char,
) -> c_int {
    // SAFETY: QEMU passes a valid info whose target name lives as long as the plugin.
    let info = unsafe { &*info };
    if info.system_emulation {
        say("count-insns: for qemu-user only\n");
        return -1;
    }
    // SAFETY: QEMU passes argc C strings.
    let args = (0..argc.max(0) as usize).map(|i| {
        unsafe { CStr::from_ptr(*argv.add(i)) }
            .to_string_lossy()
            .into_owned()
    });
    match neon_code(args) {
        Ok(code) => _ = NEON_CODE.set(code),
        Err(e) => {
            say(&format!("count-insns: {e}\n"));
            return -1;
        }
    }
    // SAFETY: the callbacks have the signatures API 1 declares.
    unsafe {
        qemu_plugin_register_vcpu_tb_trans_cb(id, translated);
        qemu_plugin_register_vcpu_init_cb(id, thread_started);
        qemu_plugin_register_atexit_cb(id, exited, std::ptr::null_mut());
    }
    0
}

unsafe extern "C" fn thread_started(_id: PluginId, _vcpu: u32) {
    THREADS.fetch_add(1, Ordering::Relaxed);
}

/// A block was translated: it adds its length, and its NEON instructions, each time it runs.
unsafe extern "C" fn translated(_id: PluginId, tb: *mut Tb) {
    // SAFETY: `tb` is valid during the translation callback; the counters outlive it.
    unsafe {
        let length = qemu_plugin_tb_n_insns(tb);
        let neon = (0..length)
            .filter(|&i| in_neon_code(qemu_plugin_tb_get_insn(tb, i)))
            .count();
        let counter = |c: &AtomicU64| c.as_ptr().cast::<c_void>();
        qemu_plugin_register_vcpu_tb_exec_inline(
            tb,
            INLINE_ADD_U64,
            counter(&INSTRUCTIONS),
            length as u64,
        );
        if neon > 0 {
            qemu_plugin_register_vcpu_tb_exec_inline(
                tb,
                INLINE_ADD_U64,
                counter(&NEON),
                neon as u64,
            );
        }
    }
}

/// The `neon=FILE` and `code=HEX` arguments read: the ranges, sorted, and the start of the code.
fn neon_code(args: impl Iterator<Item = String>) -> Result<(Vec<(u64, u64)>, u64), String> {
    let (mut file, mut code) = (None, None);
    for arg in args {
        match arg.split_once('=') {
            Some(("neon", path)) => file = Some(path.to_owned()),
            Some(("code", hex)) => code = u64::from_str_radix(hex, 16).ok(),
            _ => {
                return Err(format!(
                    "unknown argument {arg:?}; expected neon=FILE,code=HEX"
                ));
            }
        }
    }
    let (Some(file), Some(code)) = (file, code) else {
        return Err("needs neon=FILE and code=HEX".into());
    };
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{file}: {e}"))?;
    let hex = |word: Option<&str>| word.and_then(|w| u64::from_str_radix(w, 16).ok());
    let mut ranges = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match (hex(words.next()), hex(words.next())) {
            (Some(start), Some(end)) if start < end => ranges.push((start, end)),
            _ => return Err(format!("{file}: not START END in hex: {line:?}")),
        }
    }
    ranges.sort_unstable();
    Ok((ranges, code))
}

/// Whether the instruction is in one of OpenH264's NEON functions.
unsafe fn in_neon_code(insn: *const Insn) -> bool {
    let Some((ranges, code)) = NEON_CODE.get() else {
        return false;
    };
    // SAFETY: called while the block is translated, when the loader is done.
    let bias = *LOAD_BIAS.get_or_init(|| unsafe { qemu_plugin_start_code() }.wrapping_sub(*code));
    // SAFETY: `insn` is valid during the translation callback.
    let address = unsafe { qemu_plugin_insn_vaddr(insn) }.wrapping_sub(bias);
    let after = ranges.partition_point(|&(start, _)| start <= address);
    after > 0 && address < ranges[after - 1].1
}

unsafe extern "C" fn exited(_id: PluginId, _userdata: *mut c_void) {
    say(&format!(
        "instructions {}\nneon {}\nthreads {}\n",
        INSTRUCTIONS.load(Ordering::Relaxed),
        NEON.load(Ordering::Relaxed),
        THREADS.load(Ordering::Relaxed)
    ));
}

fn say(text: &str) {
    if let Ok(text) = CString::new(text) {
        // SAFETY: a valid C string for the duration of the call.
        unsafe { qemu_plugin_outs(text.as_ptr()) }
    }
}
