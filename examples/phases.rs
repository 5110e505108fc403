use groupsync::kinds::seam::Lookups;
use groupsync::pipeline::plan::{PlanOptions, plan};
use std::time::Instant;
fn main() {
    let dir = std::env::args().nth(1).unwrap();
    let what = std::env::args().nth(2).unwrap_or_default();
    let t = Instant::now();
    if what == "load" || what.is_empty() {
        let desired = groupsync::desired::load_dir(std::path::Path::new(&format!("{dir}/groups.d"))).unwrap();
        eprintln!("load_dir {:?} {}", t.elapsed(), desired.groups.len());
        std::mem::forget(desired);
    }
    if what == "state" {
        let snapshot = groupsync::store::state_file::read_unlocked(std::path::Path::new(&format!("{dir}/state.json"))).unwrap();
        eprintln!("state {:?} {}", t.elapsed(), snapshot.len());
        std::mem::forget(snapshot);
    }
    if what == "plan" {
        let desired = groupsync::desired::load_dir(std::path::Path::new(&format!("{dir}/groups.d"))).unwrap();
        let snapshot = groupsync::store::state_file::read_unlocked(std::path::Path::new(&format!("{dir}/state.json"))).unwrap();
        let t = Instant::now();
        let lookups = Lookups::offline(&desired, &snapshot);
        let p = plan(&desired, &snapshot, &lookups, &PlanOptions::default());
        eprintln!("plan {:?} {}", t.elapsed(), p.changes.len());
        std::mem::forget((desired, snapshot, p));
    }
}
