//! An extract request as the API receives it: any JSON body through the filter and request
//! parsers. Must never panic; what parses must satisfy the parsers' own bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registervakt::web::api::extracts_wire::{CreateExtractRequest, parse_request};

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = serde_json::from_slice::<CreateExtractRequest>(data) {
        if let Ok(request) = parse_request(&body) {
            assert_eq!(request.fields.len(), body.fields.len());
        }
    }
});
