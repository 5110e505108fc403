//! Transport failures as typed errors: a reqwest error told apart (timeout,
//! refused connection, DNS, TLS certificate), and URLs shown without
//! credentials, query or fragment.

use reqwest::Url;

use super::request::Verb;
use super::secrets::Secrets;
use crate::error::{PodError, TransportKind};

/// The error for a request that got no answer (or lost it while reading).
/// Its reason passes through `secrets`: a proxy's refusal may quote what it was sent.
pub(super) fn transport_error(
    verb: Verb,
    url: &Url,
    error: &reqwest::Error,
    secrets: &Secrets,
) -> PodError {
    let kind = if error.is_timeout() {
        TransportKind::Timeout
    } else if error.is_connect() {
        connect_failure_kind(error)
    } else {
        TransportKind::Other
    };
    let what = match kind {
        TransportKind::Timeout => "no answer in time",
        TransportKind::Connect => "cannot connect",
        TransportKind::Dns => "the host name does not resolve",
        TransportKind::Tls => "the server's TLS certificate was refused",
        TransportKind::Other => "the connection failed",
    };
    PodError::Transport {
        method: verb.as_str(),
        url: public_url(url),
        kind,
        reason: secrets.redact(&format!("{what}: {}", error_chain(error))),
    }
}

/// What kind of connect failure `error` is, from the messages of its chain:
/// neither hyper-util's DNS error nor rustls' error type can be downcast to
/// here (they are not dependencies of ours), so stable fragments of their
/// messages tell. The DNS ones come from hyper-util (`dns error`) and
/// getaddrinfo; the certificate one is rustls' `Error::InvalidCertificate`.
fn connect_failure_kind(error: &(dyn std::error::Error + 'static)) -> TransportKind {
    const DNS: &[&str] = &[
        "dns error",
        "error resolving DNS",
        "failed to lookup address information",
    ];
    const CERTIFICATE: &[&str] = &["invalid peer certificate"];
    let mut current = Some(error);
    while let Some(cause) = current {
        let text = cause.to_string();
        if DNS.iter().any(|fragment| text.contains(fragment)) {
            return TransportKind::Dns;
        }
        if CERTIFICATE.iter().any(|fragment| text.contains(fragment)) {
            return TransportKind::Tls;
        }
        current = cause.source();
    }
    TransportKind::Connect
}

/// An error and its sources, `: `-joined, with reqwest's URL left out (it
/// may carry a query); hyper's and the OS's messages hold no headers.
pub(super) fn error_chain(error: &reqwest::Error) -> String {
    crate::error::with_causes(
        error_text_without_url(error),
        std::error::Error::source(error),
    )
}

fn error_text_without_url(error: &reqwest::Error) -> String {
    let text = error.to_string();
    // reqwest appends " for url (...)" when it knows the URL.
    match text.find(" for url (") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

/// Scheme, host, port and path of `url`: no credentials, query or fragment.
pub(super) fn public_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use super::*;

    #[test]
    fn public_url_drops_query_and_credentials() {
        let url = Url::parse(
            "https://user:pw@acme.symphony.com/pod/v2/admin/usergroups?type=ROLE_SCOPE&after=c#x",
        )
        .unwrap();
        assert_eq!(
            public_url(&url),
            "https://acme.symphony.com/pod/v2/admin/usergroups"
        );
    }

    // -- DNS and TLS failures are final -------------------------------------

    /// One link of a constructed error chain, standing in for the crates'
    /// own error types (which are not reachable from here).
    #[derive(Debug)]
    struct Link {
        text: &'static str,
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    }

    impl fmt::Display for Link {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.text)
        }
    }

    impl std::error::Error for Link {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.source.as_deref().map(|source| source as _)
        }
    }

    fn link(text: &'static str, source: impl std::error::Error + Send + Sync + 'static) -> Link {
        Link {
            text,
            source: Some(Box::new(source)),
        }
    }

    fn leaf(text: &'static str) -> Link {
        Link { text, source: None }
    }

    #[test]
    fn a_refused_certificate_is_told_apart_by_rustls_message() {
        // As reqwest 0.13 reports a self-signed certificate (seen against
        // `openssl s_server`): hyper-util's error over an io::Error wrapping
        // an io::Error wrapping rustls' `InvalidCertificate`.
        let rustls = leaf("invalid peer certificate: UnknownIssuer");
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls);
        let outer = std::io::Error::other(inner);
        let chain = link(
            "error sending request",
            link("client error (Connect)", outer),
        );
        assert_eq!(connect_failure_kind(&chain), TransportKind::Tls);
    }

    #[test]
    fn a_name_that_does_not_resolve_is_told_apart_by_its_message() {
        let getaddrinfo = std::io::Error::other(
            "failed to lookup address information: Name or service not known",
        );
        let chain = link(
            "client error (Connect)",
            link("dns error", link("error resolving DNS", getaddrinfo)),
        );
        assert_eq!(connect_failure_kind(&chain), TransportKind::Dns);
        // Without hyper-util's wrapping, getaddrinfo's own words suffice.
        let bare = std::io::Error::other(
            "failed to lookup address information: Temporary failure in name resolution",
        );
        assert_eq!(connect_failure_kind(&bare), TransportKind::Dns);
    }

    #[test]
    fn a_refused_connection_stays_a_retried_connect_failure() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let chain = link("client error (Connect)", link("tcp connect error", refused));
        assert_eq!(connect_failure_kind(&chain), TransportKind::Connect);
    }

    fn transport(kind: TransportKind, url: &str) -> PodError {
        PodError::Transport {
            method: "GET",
            url: url.into(),
            kind,
            reason: "why".into(),
        }
    }

    #[test]
    fn dns_and_tls_failures_are_final_with_a_hint() {
        let pod = "https://acme.symphony.com/pod/v2/admin/usergroups/g1";
        for kind in [TransportKind::Dns, TransportKind::Tls] {
            let error = transport(kind, pod);
            assert!(!error.is_retryable(), "{kind:?}");
            assert!(
                error
                    .to_string()
                    .contains("check pod.url / GROUPSYNC_POD_URL"),
                "{error}"
            );
        }
        assert!(
            transport(TransportKind::Tls, pod)
                .to_string()
                .contains("issued by a CA this host trusts")
        );
        let login = transport(
            TransportKind::Dns,
            "https://acme.symphony.com/login/pubkey/authenticate",
        );
        assert!(
            login.to_string().contains("check auth.login_url"),
            "{login}"
        );
        for kind in [TransportKind::Connect, TransportKind::Timeout] {
            let error = transport(kind, pod);
            assert!(error.is_retryable(), "{kind:?}");
            assert_eq!(error.to_string(), format!("GET {pod}: why"));
        }
    }
}
