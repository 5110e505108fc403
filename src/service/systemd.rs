//! Telling systemd how the daemon is doing (`sd_notify`): READY, STATUS,
//! RELOADING, STOPPING and the watchdog.
//!
//! A [`Notifier`] reads `NOTIFY_SOCKET` and `WATCHDOG_USEC` once, never
//! changes the environment, and does nothing outside systemd. A message that
//! cannot be sent is logged at debug level and otherwise ignored: a
//! notification must never stop the daemon.

use std::env;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sd_notify::NotifyState;

/// Sends `sd_notify` messages to the service manager, if there is one.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    /// `NOTIFY_SOCKET`: a path, or `@name` for the abstract namespace.
    socket: Option<PathBuf>,
    /// `WATCHDOG_USEC`, when the watchdog is meant for this process.
    watchdog_usec: Option<u64>,
}

impl Notifier {
    /// From `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID`.
    pub fn from_env() -> Notifier {
        let socket = env::var_os("NOTIFY_SOCKET")
            .filter(|path| !path.is_empty())
            .map(PathBuf::from);
        // sd-notify checks WATCHDOG_PID against our pid (without unsetting anything).
        let watchdog_usec = sd_notify::watchdog_enabled()
            .and_then(|timeout| u64::try_from(timeout.as_micros()).ok());
        Notifier::with_socket(socket, watchdog_usec)
    }

    /// A notifier for `socket` (none: do nothing) with the watchdog timeout
    /// `watchdog_usec`; tests use this instead of the process-wide environment.
    pub fn with_socket(socket: Option<PathBuf>, watchdog_usec: Option<u64>) -> Notifier {
        Notifier {
            socket,
            watchdog_usec,
        }
    }

    /// Whether there is a service manager to tell anything.
    pub fn is_enabled(&self) -> bool {
        self.socket.is_some()
    }

    /// `READY=1`: start-up (or a reload) is finished.
    pub fn ready(&self) {
        self.send(&[NotifyState::Ready]);
    }

    /// `STATUS=`: one line for `systemctl status`.
    pub fn status(&self, line: &str) {
        // A newline would end the STATUS= field and start a bogus one.
        let line = line.replace('\n', " ");
        self.send(&[NotifyState::Status(&line)]);
    }

    /// `RELOADING=1` with `MONOTONIC_USEC=` in the same message, as systemd
    /// 253+ requires; follow with [`Notifier::ready`] when the reload is done.
    pub fn reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now]),
            Err(error) => {
                tracing::debug!("sd_notify: cannot read CLOCK_MONOTONIC: {error}");
                self.send(&[NotifyState::Reloading]);
            }
        }
    }

    /// `STOPPING=1`: shutdown has begun.
    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping]);
    }

    /// `WATCHDOG=1`: the loop is alive.
    pub fn watchdog(&self) {
        self.send(&[NotifyState::Watchdog]);
    }

    /// How often to call [`Notifier::watchdog`]: half the watchdog timeout,
    /// as sd_watchdog_enabled(3) advises; `None` when there is no watchdog.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog_usec
            .map(|usec| Duration::from_micros(usec / 2))
            // A zero period would make the ping task's interval panic.
            .filter(|period| !period.is_zero())
    }

    fn send(&self, states: &[NotifyState]) {
        let Some(socket) = &self.socket else {
            return;
        };
        let message = message(states);
        if let Err(error) = send_datagram(socket, message.as_bytes()) {
            let first = message.lines().next().unwrap_or_default();
            tracing::debug!(
                "sd_notify: cannot send {first} to {}: {error}",
                socket.display()
            );
        }
    }
}

/// One datagram: a `KEY=VALUE` line per state, as sd_notify(3) expects.
fn message(states: &[NotifyState]) -> String {
    states.iter().map(|state| format!("{state}\n")).collect()
}

fn send_datagram(socket: &Path, message: &[u8]) -> io::Result<()> {
    let sender = UnixDatagram::unbound()?;
    let sent = match abstract_name(socket) {
        Some(name) => send_to_abstract(&sender, name, message)?,
        None => sender.send_to(message, socket)?,
    };
    if sent == message.len() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "incomplete datagram",
        ))
    }
}

/// `@name` means a socket in Linux's abstract namespace (no file).
fn abstract_name(socket: &Path) -> Option<&[u8]> {
    use std::os::unix::ffi::OsStrExt;
    socket.as_os_str().as_bytes().strip_prefix(b"@")
}

#[cfg(target_os = "linux")]
fn send_to_abstract(sender: &UnixDatagram, name: &[u8], message: &[u8]) -> io::Result<usize> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::SocketAddr;
    sender.send_to_addr(message, &SocketAddr::from_abstract_name(name)?)
}

#[cfg(not(target_os = "linux"))]
fn send_to_abstract(_: &UnixDatagram, _: &[u8], _: &[u8]) -> io::Result<usize> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract sockets exist only on Linux",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake service manager: a datagram socket in a temporary directory.
    struct FakeSystemd {
        _dir: tempfile::TempDir,
        path: PathBuf,
        socket: UnixDatagram,
    }

    impl FakeSystemd {
        fn new() -> FakeSystemd {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("notify");
            let socket = UnixDatagram::bind(&path).unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            FakeSystemd {
                _dir: dir,
                path,
                socket,
            }
        }

        fn notifier(&self) -> Notifier {
            Notifier::with_socket(Some(self.path.clone()), None)
        }

        fn receive(&self) -> String {
            receive(&self.socket)
        }
    }

    fn receive(socket: &UnixDatagram) -> String {
        let mut buffer = [0; 4096];
        let length = socket.recv(&mut buffer).expect("a datagram arrives");
        String::from_utf8(buffer[..length].to_vec()).unwrap()
    }

    #[test]
    fn each_notification_is_one_datagram() {
        let systemd = FakeSystemd::new();
        let notifier = systemd.notifier();
        assert!(notifier.is_enabled());
        notifier.ready();
        assert_eq!(systemd.receive(), "READY=1\n");
        notifier.status("in sync: 120 groups; last change 12:03:11");
        assert_eq!(
            systemd.receive(),
            "STATUS=in sync: 120 groups; last change 12:03:11\n"
        );
        notifier.watchdog();
        assert_eq!(systemd.receive(), "WATCHDOG=1\n");
        notifier.stopping();
        assert_eq!(systemd.receive(), "STOPPING=1\n");
    }

    #[test]
    fn a_status_stays_on_one_line() {
        let systemd = FakeSystemd::new();
        systemd.notifier().status("pod down\nretrying");
        assert_eq!(systemd.receive(), "STATUS=pod down retrying\n");
    }

    #[test]
    fn reloading_carries_the_monotonic_clock_in_the_same_message() {
        let systemd = FakeSystemd::new();
        let before = NotifyState::monotonic_usec_now().unwrap();
        systemd.notifier().reloading();
        let message = systemd.receive();
        let usec = message
            .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
            .and_then(|rest| rest.strip_suffix('\n'))
            .unwrap_or_else(|| panic!("unexpected message {message:?}"));
        let usec: i128 = usec.parse().unwrap();
        let NotifyState::MonotonicUsec(before) = before else {
            unreachable!()
        };
        assert!(usec >= before, "{usec} is earlier than {before}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_abstract_socket_is_reached_by_its_name() {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::net::SocketAddr;
        let name = format!("groupsync-test-{}", std::process::id());
        let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let socket = UnixDatagram::bind_addr(&address).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        Notifier::with_socket(Some(PathBuf::from(format!("@{name}"))), None).ready();
        assert_eq!(receive(&socket), "READY=1\n");
    }

    #[test]
    fn without_a_socket_nothing_happens() {
        let notifier = Notifier::with_socket(None, None);
        assert!(!notifier.is_enabled());
        notifier.ready();
        notifier.reloading();
        notifier.stopping();
    }

    #[test]
    fn a_missing_socket_is_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nobody-listens-yet");
        let notifier = Notifier::with_socket(Some(path.clone()), None);
        // Nobody listens: each send fails underneath; the notifier logs it
        // at debug level, and nothing fails or panics.
        let failed = send_datagram(&path, b"READY=1\n").unwrap_err();
        assert_eq!(failed.kind(), io::ErrorKind::NotFound);
        notifier.ready();
        notifier.watchdog();
        // The notifier goes on: once a manager listens, the next message
        // reaches it, and the lost ones were not kept for later.
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        notifier.status("back");
        assert_eq!(receive(&socket), "STATUS=back\n");
    }

    #[test]
    fn the_watchdog_is_fed_at_half_its_timeout() {
        let notifier = Notifier::with_socket(None, Some(60_000_000));
        assert_eq!(notifier.watchdog_interval(), Some(Duration::from_secs(30)));
        assert_eq!(Notifier::with_socket(None, None).watchdog_interval(), None);
        assert_eq!(
            Notifier::with_socket(None, Some(0)).watchdog_interval(),
            None
        );
    }
}
