//! Benchmark baseline: the official `aerospike` crate scanning a namespace (a query over all
//! partitions), counting records. `crate_scan HOST:PORT NAMESPACE`
use aerospike::{Bins, Client, ClientPolicy, PartitionFilter, QueryPolicy, Statement};
use futures::StreamExt;

fn main() {
    let mut args = std::env::args().skip(1);
    let host = args.next().expect("HOST:PORT");
    let ns = args.next().unwrap_or_else(|| "test".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let n = rt.block_on(async {
        let c = Client::new(&ClientPolicy::default(), &host)
            .await
            .expect("connect");
        let rs = c
            .query(
                &QueryPolicy::default(),
                PartitionFilter::all(),
                Statement::new(ns, "", Bins::All),
            )
            .await
            .expect("query");
        let mut st = rs.into_stream();
        let mut n = 0u64;
        while let Some(r) = st.next().await {
            r.expect("record");
            n += 1;
        }
        n
    });
    println!("{n}");
}
