//! Control-message decoding: any bytes either decode or give a DecodeError; a decoded message
//! encodes to 128 bytes that decode to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zmemif::fuzzing::wire::Msg;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Msg::decode(data) {
        let again = Msg::decode(&m.encode()).expect("an encoded message decodes");
        assert_eq!(again, m);
        let _ = m.type_name();
    }
});
