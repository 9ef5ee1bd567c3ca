//! What each update method costs: truncate-write (cp), unlink-create (install) and temp-rename
//! (mv, dpkg) with and without fsync, for files from 16 KiB to 64 MiB, in a temporary directory
//! (TMPDIR; its filesystem decides what fsync costs).

use std::path::Path;

use clobber::method::{self, Method};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const SIZES: [usize; 4] = [16 << 10, 1 << 20, 16 << 20, 64 << 20];

fn label(size: usize) -> String {
    if size >= 1 << 20 {
        format!("{}MiB", size >> 20)
    } else {
        format!("{}KiB", size >> 10)
    }
}

fn update(name: &str, target: &Path, new: &[u8]) {
    let result = match name {
        "truncate-write" => method::apply(Method::TruncateWrite, target, new, 0o644),
        "unlink-create" => method::apply(Method::UnlinkCreate, target, new, 0o644),
        "temp-rename+fsync" => method::temp_rename(target, new, 0o644, true),
        _ => method::temp_rename(target, new, 0o644, false),
    };
    result.expect("update");
}

fn methods(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("target.bin");
    let mut group = c.benchmark_group("update");
    group.sample_size(10);
    for size in SIZES {
        let new = vec![0xA5u8; size];
        std::fs::write(&target, &new).expect("seed file");
        group.throughput(Throughput::Bytes(size as u64));
        for name in [
            "truncate-write",
            "unlink-create",
            "temp-rename",
            "temp-rename+fsync",
        ] {
            group.bench_with_input(BenchmarkId::new(name, label(size)), &new, |b, new| {
                b.iter(|| update(name, &target, new))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, methods);
criterion_main!(benches);
