//! `as-verify --cluster` against the bundled test server: a backup compared, record by record,
//! with the records the cluster holds after updates, inserts, deletes and expiries.
