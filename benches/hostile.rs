//! Peak memory of real `groupsync` processes under hostile load on 127.0.0.1.
//!
//! `groupsync plan` against a hostile pod:
//!
//! - **endless body**: every answer is a 200 whose body never ends;
//! - **endless page walk**: every page of the group list carries 100 groups,
//!   `next` and a cursor never seen before.
//!
//! For each: how long until groupsync gave up, its peak resident memory
//! (VmHWM, polled every millisecond until it exits), what the pod sent, and
//! groupsync's error line. The bound to keep: peak RSS under 100 MiB.
//!
//! `groupsync run` against hostile readers of its endpoints:
//!
//! - **slow plan readers**: a dry-run daemon whose plan is about 20 MB, and
//!   64 clients reading `/plan.json` at once, slowly. Its resident memory
//!   idle (the plan published) next to its peak while they read (VmHWM, reset
//!   before they start), how often and how fast `/healthz` answered
//!   meanwhile, and how many readers got the whole plan. The bound to keep:
//!   the Kubernetes example's 256 MiB limit.
//!
//! Run: `cargo bench --bench hostile` (about half a minute). Prints its
//! figures; asserts nothing about time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-hostile-token";
const CHUNK: usize = 64 * 1024;

fn main() {
    let endless_body = HostilePod::start(|stream, _, sent| {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
        let chunk = format!("{CHUNK:x}\r\n{}\r\n", "x".repeat(CHUNK));
        if stream.write_all(head.as_bytes()).is_ok() {
            while stream.write_all(chunk.as_bytes()).is_ok() {
                sent.fetch_add(CHUNK as u64, Ordering::Relaxed);
            }
        }
    });
    measure("endless body", &endless_body, "id: 65aa00000001\nname: A\n");

    let endless_walk = HostilePod::start(|stream, page, sent| {
        let body = endless_page(page);
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        if stream.write_all(head.as_bytes()).is_ok() && stream.write_all(body.as_bytes()).is_ok() {
            sent.fetch_add(body.len() as u64, Ordering::Relaxed);
        }
    });
    // Declared without `id`: its name is looked up in a walk of the list.
    measure("endless page walk", &endless_walk, "name: Looked up\n");

    slow_plan_readers();
}

/// Page `page` of an endless list: 100 fresh groups, `next`, a new cursor.
fn endless_page(page: u64) -> String {
    let groups: Vec<String> = (0..100)
        .map(|index| {
            format!(
                r#"{{"id":"{page:08x}{index:04x}","name":"Group {page}-{index}","area":"EMEA","description":"A group the pod invented on page {page}","type":"ROLE_SCOPE","active":true}}"#
            )
        })
        .collect();
    format!(
        r#"{{"data":[{}],"pagination":{{"cursors":{{"before":"b","after":"c{page}"}},"next":"n"}}}}"#,
        groups.join(",")
    )
}

/// Runs `groupsync plan` for one group file against `pod` and prints the figures.
fn measure(scenario: &str, pod: &HostilePod, group_yaml: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("groups.d")).unwrap();
    std::fs::write(dir.path().join("groups.d/a.yaml"), group_yaml).unwrap();
    let started = Instant::now();
    let (peak_kib, code, stderr) = run_plan(dir.path(), &format!("http://{}/pod", pod.address));
    let error = stderr
        .lines()
        .find(|line| line.starts_with("error"))
        .unwrap_or("(no error line)");
    println!(
        "{scenario}: gave up after {:.1} s, peak RSS {:.1} MiB (VmHWM), exit {code:?}, the pod answered {} requests and sent {:.1} MiB\n  {error}",
        started.elapsed().as_secs_f64(),
        peak_kib as f64 / 1024.0,
        pod.requests.load(Ordering::Relaxed),
        pod.sent.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0),
    );
}

/// `groupsync plan` in `dir`: its peak resident memory in KiB, exit code and stderr.
fn run_plan(dir: &Path, pod_url: &str) -> (u64, Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_groupsync"))
        .args(["plan", "--groups-dir", "groups.d", "--state", "state.json"])
        .current_dir(dir)
        .env("GROUPSYNC_POD_URL", pod_url)
        .env("GROUPSYNC_SESSION_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let mut peak_kib = 0;
    let status = loop {
        if let Some(kib) = peak_resident_kib(child.id()) {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    (peak_kib, status.code(), reader.join().unwrap())
}

/// VmHWM of `pid`, while it runs.
fn peak_resident_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

/// A pod on 127.0.0.1 whose every answer `answer` writes; counts requests and bytes sent.
struct HostilePod {
    address: SocketAddr,
    requests: Arc<AtomicU64>,
    sent: Arc<AtomicU64>,
}

type Answer = fn(&mut TcpStream, u64, &AtomicU64);

impl HostilePod {
    fn start(answer: Answer) -> HostilePod {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicU64::new(0));
        let sent = Arc::new(AtomicU64::new(0));
        let (counter, bytes) = (requests.clone(), sent.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let index = counter.fetch_add(1, Ordering::Relaxed);
                let bytes = bytes.clone();
                std::thread::spawn(move || serve(stream, index, &bytes, answer));
            }
        });
        HostilePod {
            address,
            requests,
            sent,
        }
    }
}

/// Reads one request head, then lets `answer` write; one request per connection.
fn serve(mut stream: TcpStream, index: u64, sent: &AtomicU64, answer: Answer) {
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|read| read > 0) {
        if line == "\r\n" {
            answer(&mut stream, index, sent);
            return;
        }
        line.clear();
    }
}

// ---------------------------------------------------------------------------
// Slow readers of a large plan

/// Groups of the daemon's tree, each with a description of
/// [`PLAN_DESCRIPTION_BYTES`] that the state file records otherwise: a plan
/// of about 20 MB.
const PLAN_GROUPS: usize = 80;
const PLAN_DESCRIPTION_BYTES: usize = 80 * 1024;
/// Readers of `/plan.json` at once, each reading [`READ_SLICE`] bytes every [`READ_PAUSE`].
const PLAN_READERS: usize = 64;
const READ_SLICE: usize = 32 * 1024;
const READ_PAUSE: Duration = Duration::from_millis(20);

fn slow_plan_readers() {
    let dir = tempfile::tempdir().unwrap();
    write_large_plan_tree(dir.path());
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    std::fs::write(
        dir.path().join("groupsync.yaml"),
        format!(
            "groups_dir: groups.d\nstate_file: state.json\ndry_run: true\ninterval: 1h\n\
             metrics_listen: \"{listen}\"\nlog: {{level: warn}}\n"
        ),
    )
    .unwrap();
    // No pod: the daemon plans from the state file alone.
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_groupsync"))
        .args(["run", "--config", "groupsync.yaml"])
        .current_dir(dir.path())
        .env_remove("GROUPSYNC_POD_URL")
        .env_remove("GROUPSYNC_SESSION_TOKEN")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = daemon.id();
    let deadline = Instant::now() + Duration::from_secs(120);
    let plan_bytes = loop {
        if let Some(length) = plan_length(listen) {
            break length;
        }
        assert!(Instant::now() < deadline, "the daemon published no plan");
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(500));
    let idle_kib = status_kib(pid, "VmRSS:").unwrap_or(0);
    // From here on, VmHWM is the peak of the readers' time (if the kernel lets us reset it).
    let reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();

    let started = Instant::now();
    let readers: Vec<_> = (0..PLAN_READERS)
        .map(|_| std::thread::spawn(move || read_slowly(listen, "/plan.json")))
        .collect();
    let mut peak_kib = 0;
    let mut healthz = Vec::new();
    let mut next_probe = Instant::now();
    while readers.iter().any(|reader| !reader.is_finished()) {
        if let Some(kib) = status_kib(pid, "VmHWM:") {
            peak_kib = peak_kib.max(kib);
        }
        if Instant::now() >= next_probe {
            healthz.push(time_healthz(listen));
            next_probe = Instant::now() + Duration::from_millis(500);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = started.elapsed();
    if let Some(kib) = status_kib(pid, "VmHWM:") {
        peak_kib = peak_kib.max(kib);
    }
    let whole = readers
        .into_iter()
        .map(|reader| reader.join().unwrap())
        .filter(|received| *received == plan_bytes)
        .count();
    let answered: Vec<Duration> = healthz.iter().flatten().copied().collect();
    let slowest = answered.iter().max().copied().unwrap_or_default();
    println!(
        "slow plan readers: {PLAN_READERS} reading /plan.json ({:.1} MB) at once: peak RSS {:.1} MiB (VmHWM{}) vs {:.1} MiB idle (VmRSS, plan published); \
         /healthz answered {} of {} probes, slowest {:.0} ms; {whole} of {PLAN_READERS} readers got the whole plan, in {:.1} s",
        plan_bytes as f64 / 1e6,
        peak_kib as f64 / 1024.0,
        if reset {
            " since they started"
        } else {
            ", since start-up"
        },
        idle_kib as f64 / 1024.0,
        answered.len(),
        healthz.len(),
        slowest.as_secs_f64() * 1000.0,
        took.as_secs_f64(),
    );
    let _ = daemon.kill();
    let _ = daemon.wait();
}

/// `groups.d/` of [`PLAN_GROUPS`] files, one group each with a long
/// description, and a state file recording each with a short one.
fn write_large_plan_tree(dir: &Path) {
    use groupsync::model::UserGroupResponse;
    use groupsync::store::snapshot::Snapshot;
    use groupsync::store::state_file::StateFile;
    let groups = dir.join("groups.d");
    std::fs::create_dir(&groups).unwrap();
    let words = "compliance scope ".repeat(PLAN_DESCRIPTION_BYTES / 17);
    let mut snapshot = Snapshot::default();
    for index in 0..PLAN_GROUPS {
        let id = format!("65{index:012x}");
        std::fs::write(
            groups.join(format!("g{index:03}.yaml")),
            format!("id: \"{id}\"\nname: Group {index}\ndescription: {index} {words}\n"),
        )
        .unwrap();
        let recorded = UserGroupResponse {
            id: Some(id.as_str().into()),
            name: Some(format!("Group {index}").into()),
            description: Some("old".into()),
            ..Default::default()
        };
        snapshot.record_read(&id, recorded, 1_700_000_000_000);
    }
    StateFile::open(&dir.join("state.json"))
        .unwrap()
        .save(&snapshot)
        .unwrap();
}

/// The `Content-Length` of a 200 to `GET /plan.json`, or `None` (no answer, or a 503).
fn plan_length(listen: SocketAddr) -> Option<u64> {
    let stream = TcpStream::connect(listen).ok()?;
    let (status, length) = request_head(&stream, "/plan.json")?;
    (status == 200).then_some(length)
}

/// Sends `GET path` and reads the answer's head: its status and `Content-Length`.
fn request_head(mut stream: &TcpStream, path: &str) -> Option<(u16, u64)> {
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: groupsync\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let status = line.split(' ').nth(1)?.parse().ok()?;
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        if line == "\r\n" || line.is_empty() {
            // The body may sit in the reader's buffer; the callers that read
            // it open their own reader below.
            return Some((status, length));
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().ok()?;
        }
    }
}

/// Reads `path` a slice at a time with a pause between slices; returns the body's length.
fn read_slowly(listen: SocketAddr, path: &str) -> u64 {
    let Ok(mut stream) = TcpStream::connect(listen) else {
        return 0;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: groupsync\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return 0;
    }
    let mut head = Vec::new();
    let mut body_bytes = None;
    let mut slice = vec![0u8; READ_SLICE];
    while let Ok(read @ 1..) = stream.read(&mut slice) {
        match body_bytes.as_mut() {
            Some(body) => *body += read as u64,
            None => {
                head.extend_from_slice(&slice[..read]);
                if let Some(end) = head.windows(4).position(|window| window == b"\r\n\r\n") {
                    body_bytes = Some((head.len() - end - 4) as u64);
                }
            }
        }
        std::thread::sleep(READ_PAUSE);
    }
    body_bytes.unwrap_or(0)
}

/// How long `GET /healthz` took to answer 200, or `None` if it did not within 30 s.
fn time_healthz(listen: SocketAddr) -> Option<Duration> {
    let started = Instant::now();
    let stream = TcpStream::connect_timeout(&listen, Duration::from_secs(30)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let (status, _) = request_head(&stream, "/healthz")?;
    (status == 200).then(|| started.elapsed())
}

/// A field of `/proc/<pid>/status` in KiB (`VmRSS:`, `VmHWM:`), while the process runs.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
