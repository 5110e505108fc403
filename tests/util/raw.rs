//! A raw HTTP/1.1 server on 127.0.0.1, for answers no well-behaved server
//! gives (a body without end) and for seeing requests as they arrive on the
//! wire (a proxy sees `GET http://host/path` and `CONNECT host:443`).
//!
//! Each connection is served on a thread of its own: one request, one
//! answer written by the test's closure, then the connection is closed.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request head as it arrived.
#[derive(Debug, Clone)]
pub struct RawRequest {
    /// E.g. `GET /pod/v2/admin/usergroups/a1 HTTP/1.1`.
    pub line: String,
    /// Header lines as sent, names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl RawRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// How the server answers: writes a whole HTTP answer (or never stops).
type Answer = dyn Fn(&RawRequest, &mut TcpStream) + Send + Sync;

pub struct RawServer {
    pub address: SocketAddr,
    seen: Arc<Mutex<Vec<RawRequest>>>,
}

impl RawServer {
    /// Serves on 127.0.0.1 until the test process ends.
    pub fn start(answer: impl Fn(&RawRequest, &mut TcpStream) + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let address = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answer: Arc<Answer> = Arc::new(answer);
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (answer, log) = (answer.clone(), log.clone());
                std::thread::spawn(move || serve(stream, &*answer, &log));
            }
        });
        RawServer { address, seen }
    }

    /// `http://127.0.0.1:PORT`
    pub fn origin(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every request head so far, in arrival order.
    pub fn requests(&self) -> Vec<RawRequest> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(mut stream: TcpStream, answer: &Answer, log: &Mutex<Vec<RawRequest>>) {
    let Some(request) = read_head(&stream) else {
        return;
    };
    log.lock().unwrap().push(request.clone());
    answer(&request, &mut stream);
    let _ = stream.flush();
}

/// Reads a request line and headers; the body, if any, is left unread.
fn read_head(stream: &TcpStream) -> Option<RawRequest> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    Some(RawRequest {
        line: line.trim_end().to_string(),
        headers,
    })
}

/// Writes a whole answer with `Content-Length` and closes the connection.
pub fn write_answer(stream: &mut TcpStream, status: &str, headers: &[(&str, &str)], body: &str) {
    let mut head = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
}

/// Writes `status` and a chunked JSON-looking body that never ends, until
/// the client hangs up; returns how many body bytes were written.
pub fn write_endless_body(stream: &mut TcpStream, status: &str) -> u64 {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    if stream.write_all(head.as_bytes()).is_err() {
        return 0;
    }
    let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "x".repeat(64 * 1024));
    let mut written = 0;
    while stream.write_all(chunk.as_bytes()).is_ok() {
        written += 64 * 1024;
    }
    written
}

/// Reads the body of `request` (if its head announced one) so that closing
/// the connection after answering never resets it; gives up after a short
/// quiet spell, since part of the body may already sit in the head's reader.
pub fn drain_request_body(request: &RawRequest, stream: &mut TcpStream) {
    use std::io::Read;
    let announced = request
        .header("content-length")
        .and_then(|length| length.parse::<u64>().ok())
        .is_some_and(|length| length > 0);
    if !announced {
        return;
    }
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_millis(50)));
    let mut buffer = [0u8; 4096];
    while matches!(stream.read(&mut buffer), Ok(read) if read > 0) {}
}
