//! Shared core of the Aerospike backup toolkit.
//!
//! - [`record`]: records with raw particles, secondary-index and UDF definitions;
//! - [`stream`]: the framed record stream that connects the tools;
//! - [`asb`]: the ASB text backup format, encoder and decoder;
//! - [`backup`]: what a backup is (its files, their order, whether they are whole);
//! - [`catalog`]: backups over time in one place: chains of incrementals, retention, restore to a point;
//! - [`manifest`]: what proves a backup whole (checksums, counts, scope, how it is stored);
//! - [`gen`]: a seedable generator of realistic records for tests and benchmarks.

pub mod asb;
pub mod backup;
pub mod catalog;
pub mod client;
pub mod crypt;
pub mod estimate;
#[doc(hidden)]
pub mod fuzzing;
pub mod gen;
pub mod layout;
pub mod manifest;
pub mod record;
pub mod scope;
pub mod spares;
pub mod state;
pub mod stream;
#[cfg(test)]
mod test_storage;
pub mod wire;

/// Version of the toolkit, recorded in stream headers.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
