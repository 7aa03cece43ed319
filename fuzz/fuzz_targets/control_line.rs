#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| camloop::fuzzing::control_line(data));
