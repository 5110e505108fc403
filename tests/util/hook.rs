//! A webhook receiver on 127.0.0.1 ([`Hook`]): it keeps every POST (its
//! headers and its body) and answers with a status of the test's choice; or,
//! [`Hook::dead`], accepts connections and never answers at all.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One POST as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a webhook body is JSON")
    }
}

pub struct Hook {
    pub address: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Hook {
    /// Answers every POST with `status` (e.g. `200 OK`), until the test process ends.
    pub fn answering(status: &'static str) -> Hook {
        Hook::serve(Some((status, "")))
    }

    /// Answers every POST with `status` and `body`.
    pub fn answering_with(status: &'static str, body: &'static str) -> Hook {
        Hook::serve(Some((status, body)))
    }

    /// Accepts every connection and never answers (nor closes it).
    pub fn dead() -> Hook {
        Hook::serve(None)
    }

    fn serve(answer_with: Option<(&'static str, &'static str)>) -> Hook {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let address = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                match answer_with {
                    Some((status, body)) => {
                        let log = log.clone();
                        std::thread::spawn(move || answer(stream, (status, body), &log));
                    }
                    // Kept open, never read, never answered.
                    None => held.push(stream),
                }
            }
        });
        Hook { address, received }
    }

    /// `http://127.0.0.1:PORT/hook`
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.address)
    }

    /// Every POST so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn answer(stream: TcpStream, (status, answer): (&str, &str), log: &Mutex<Vec<Received>>) {
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() {
            return;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    log.lock().unwrap().push(Received { headers, body });
    let mut stream = stream;
    let _ = stream.write_all(
        format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
            answer.len()
        )
        .as_bytes(),
    );
}

/// `sha256=<lower-case hex HMAC-SHA256(secret, body)>`, computed here, apart
/// from groupsync's own code, as a receiver would.
pub fn expected_signature(secret: &[u8], body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, body);
    let hex: String = tag
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("sha256={hex}")
}
