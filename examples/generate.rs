//! Writes a synthetic `groups.d/` and state file, to measure `groupsync plan` by hand:
//!
//! ```text
//! cargo run --release --example generate -- /tmp/big 10000
//! /usr/bin/time -v target/release/groupsync plan --groups-dir /tmp/big/groups.d --state /tmp/big/state.json >/dev/null
//! ```

#[path = "../benches/support/fixture.rs"]
mod fixture;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(groups)) = (args.next(), args.next()) else {
        eprintln!(
            "usage: generate DIR GROUPS [PER_FILE]   (files of 100 groups by default, 1% changed)"
        );
        std::process::exit(1);
    };
    let groups: usize = groups.parse().expect("GROUPS must be a number");
    let per_file: usize = args
        .next()
        .map_or(100, |text| text.parse().expect("PER_FILE must be a number"));
    fixture::write_fixture(std::path::Path::new(&dir), groups, per_file, 100);
    println!("wrote {groups} groups under {dir}/groups.d and {dir}/state.json");
}
