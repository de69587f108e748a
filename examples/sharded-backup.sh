#!/usr/bin/env bash
# A sharded backup with GNU parallel: 4 shards of namespace prod, on this host or spread over
# two others, into one directory (or one cloud prefix), then checked as one backup.
set -euo pipefail
dir=/backups/prod/$(date +%F)

# On this host, 4 shards at once:
parallel --halt now,fail=1 scripts/asbackup -h 10.0.0.5 -n prod -z zstd -d "$dir" --shard {}/4 ::: 1 2 3 4

# Or over two hosts (each with the toolkit in ~/as-tools and $dir on a shared file system, or
# use -d s3://bucket/prod/... instead):
#   parallel -S host1,host2 --halt now,fail=1 'cd as-tools && scripts/asbackup -h 10.0.0.5 -n prod -z zstd -d '"$dir"' --shard {}/4' ::: 1 2 3 4

# Every partition in exactly one shard, every file there and valid; a missing shard is named:
as-decode --validate -z zstd "$dir"
# A shard that failed resumes from its state: scripts/asbackup ... --shard 3/4 --continue "$dir/prod-shard-3-of-4.asb.state"
