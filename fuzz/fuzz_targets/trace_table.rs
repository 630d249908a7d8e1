//! The leak-trace reader over an arbitrary file: CSV in any of the encodings it sniffs, or
//! XLSX by its zip signature. Must never panic, whatever an auditor uploads, and must give
//! the same answer however the upload is cut into pieces (first byte: the piece size).
#![no_main]

use libfuzzer_sys::fuzz_target;
use registervakt::crypto::PseudonymKey;
use registervakt::oversight::trace::{LeakedFile, ReadFile, read_bytes};

fuzz_target!(|data: &[u8]| {
    let Some((&size, file)) = data.split_first() else {
        return;
    };
    let Some(key) = PseudonymKey::from_slice(&[7u8; 32]) else {
        return;
    };
    let whole = read_bytes(&key, file);
    let mut leaked = LeakedFile::new();
    let pieces = file
        .chunks(usize::from(size % 16) + 1)
        .try_for_each(|piece| leaked.feed(&key, piece));
    let cut = pieces.and_then(|()| leaked.finish(&key));
    let keys = |read: &ReadFile| {
        (
            read.keyed.by_key.clone(),
            read.keyed.rows,
            read.sha256.clone(),
        )
    };
    match (&whole, &cut) {
        (Ok(a), Ok(b)) => assert_eq!(keys(a), keys(b), "pieces must not change the keys"),
        (Err(_), Err(_)) => {}
        _ => panic!("pieces must not change whether a file can be read"),
    }
});
