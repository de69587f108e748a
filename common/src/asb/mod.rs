//! The ASB text backup format of asbackup (see `docs/asb-format.md`).

mod decode;
pub mod double;
mod encode;
mod input;

pub use decode::{AsbError, AsbErrorKind, AsbHeader, AsbItem, AsbReader};
pub use encode::{escape_into, AsbWriter, EncodeError};

use crate::record::particle;

/// The ASB version this toolkit writes (`Version 3.1`, as asbackup 4.x does).
pub const VERSION: &str = "3.1";

/// Written by as-encode where a record would start when its input failed. `#` is not a valid
/// block start after the header, so every reader stops there instead of restoring a partial
/// backup as if it were whole.
pub const INCOMPLETE_MARKER: &[u8] = b"# INCOMPLETE BACKUP: ";

/// The bin-line letter of a particle type.
pub fn bin_letter(ptype: u8) -> Option<u8> {
    Some(match ptype {
        particle::NIL => b'N',
        particle::INTEGER => b'I',
        particle::FLOAT => b'D',
        particle::STRING => b'S',
        particle::BLOB => b'B',
        particle::JAVA_BLOB => b'J',
        particle::CSHARP_BLOB => b'C',
        particle::PYTHON_BLOB => b'P',
        particle::RUBY_BLOB => b'R',
        particle::PHP_BLOB => b'H',
        particle::ERLANG_BLOB => b'E',
        particle::BOOL => b'Z',
        particle::HLL => b'Y',
        particle::MAP => b'M',
        particle::LIST => b'L',
        particle::GEOJSON => b'G',
        _ => return None,
    })
}

/// The particle type of a bytes-like bin letter (the ones with base64 and `!` raw forms).
pub fn bytes_particle(letter: u8) -> Option<u8> {
    Some(match letter {
        b'B' => particle::BLOB,
        b'J' => particle::JAVA_BLOB,
        b'C' => particle::CSHARP_BLOB,
        b'P' => particle::PYTHON_BLOB,
        b'R' => particle::RUBY_BLOB,
        b'H' => particle::PHP_BLOB,
        b'E' => particle::ERLANG_BLOB,
        b'Y' => particle::HLL,
        b'M' => particle::MAP,
        b'L' => particle::LIST,
        _ => return None,
    })
}
