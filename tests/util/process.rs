//! A groupsync process a test signals while it runs: its output is read on
//! threads, so that neither a full pipe nor a silent process can hang the test.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::PATIENCE;

/// A groupsync process the test signals, its output read on threads so that
/// neither a full pipe nor a silent process can hang the test.
pub struct Running {
    child: Child,
    stderr_lines: mpsc::Receiver<String>,
    stderr_seen: Vec<String>,
    stdout: JoinHandle<String>,
}

/// How a [`Running`] process ended.
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn everything(&self) -> String {
        format!("--- stdout\n{}--- stderr\n{}", self.stdout, self.stderr)
    }
}

impl Running {
    pub fn spawn(mut command: Command) -> Running {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start groupsync");
        let (lines, stderr_lines) = mpsc::channel();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stdout = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        Running {
            child,
            stderr_lines,
            stderr_seen: Vec::new(),
            stdout,
        }
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits until a stderr line holds `fragment`.
    pub fn wait_for_stderr(&mut self, fragment: &str) {
        while !self.stderr_seen.iter().any(|line| line.contains(fragment)) {
            let line = self
                .stderr_lines
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|_| {
                    panic!("no stderr line with {fragment:?}: {:#?}", self.stderr_seen)
                });
            self.stderr_seen.push(line);
        }
    }

    /// Waits for the exit; kills the process and fails if it takes longer than `guard`.
    pub fn finish_within(mut self, guard: Duration) -> Finished {
        let deadline = Instant::now() + guard;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "still running {guard:?} after the stop; stderr so far:\n{}",
                    self.stderr_seen.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader thread ends at EOF, so this drains every line.
        self.stderr_seen.extend(self.stderr_lines.iter());
        Finished {
            code: status.code(),
            stdout: self.stdout.join().unwrap(),
            stderr: self.stderr_seen.join("\n") + "\n",
        }
    }
}

impl Running {
    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}
