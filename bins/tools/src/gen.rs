//! `as-gen`: a reproducible synthetic record stream, for trying the tools and for benchmarks.

use as_cli::io::{binary_stdout, CHUNK};
use as_common::gen::Generator;
use as_common::stream::{Header, StreamWriter};
use clap::Parser;
use std::io::BufWriter;

/// Write a synthetic record stream: realistic records of every particle type.
///
/// Writes a record stream (as-stream(5)) of COUNT generated records on standard output, as
/// as-scan would for a real namespace: a header, secondary-index and UDF definitions, the records
/// and a trailer. The same seed gives the same stream on every machine. The records mix string,
/// integer and blob keys, three sets and the null set, integers, doubles (NaN included), booleans,
/// strings with LF and non-ASCII text, blobs with NUL and LF, ordered and unordered lists and
/// maps, GeoJSON, HyperLogLogs and language blobs, and bin names that need escaping. A real
/// server takes every record as it is (as-restore writes them all), bar those whose time to live
/// has already passed.
#[derive(Parser, Debug)]
#[command(name = "as-gen", version, max_term_width = 100, after_long_help = as_cli::EXIT_STATUS_HELP)]
pub struct Args {
    /// Number of records.
    #[arg(short = 'n', long, default_value_t = 1000)]
    pub count: u64,

    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Namespace of the records.
    #[arg(long, default_value = "test")]
    pub namespace: String,

    /// Leave out the secondary-index and UDF definitions.
    #[arg(long)]
    pub no_metadata: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut g = Generator::new(args.seed, args.namespace.as_bytes());
    let header = Header {
        namespace: Some(args.namespace.clone().into_bytes()),
        first_file: true,
        producer: format!("as-gen {}", as_common::VERSION),
        scope: format!("{} generated records, seed {}", args.count, args.seed),
        append: false,
        origin: None,
    };
    let out = BufWriter::with_capacity(CHUNK, binary_stdout("a record stream")?);
    let mut w = StreamWriter::new(out, &header)?;
    if !args.no_metadata {
        for s in g.sindexes() {
            w.sindex(&s)?;
        }
        for u in g.udfs() {
            w.udf(&u)?;
        }
    }
    for _ in 0..args.count {
        w.record(&g.record())?;
    }
    w.finish()?;
    Ok(())
}
