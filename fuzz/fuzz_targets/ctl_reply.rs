#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| camloop::fuzzing::ctl_reply(data));
