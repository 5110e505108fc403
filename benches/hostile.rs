//! Peak memory of the real `groupsync plan` against a hostile pod on 127.0.0.1:
//!
//! - **endless body**: every answer is a 200 whose body never ends;
//! - **endless page walk**: every page of the group list carries 100 groups,
//!   `next` and a cursor never seen before.
//!
//! For each: how long until groupsync gave up, its peak resident memory
//! (VmHWM, polled every millisecond until it exits), what the pod sent, and
//! groupsync's error line. The bound to keep: peak RSS under 100 MiB.
//!
//! Run: `cargo bench --bench hostile` (a few seconds). Prints its figures;
//! asserts nothing about time.

use std::io::{BufRead, BufReader, Write};
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
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
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
