//! The leak-trace reader over an arbitrary file: CSV in any of the encodings it sniffs, or
//! XLSX by its zip signature. Must never panic, whatever an auditor uploads.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = registervakt::oversight::trace::read_table(data);
});
