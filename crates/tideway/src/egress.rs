//! What a toolkit reaching the network for a tenant (fetch, cloud) may connect to. A
//! URL is checked before each hop (scheme, credentials in it, a literal address), and
//! host names are resolved by the HTTP client through [`CheckedResolver`], which
//! refuses internal answers; the client then connects only to the addresses that
//! resolver returned, so a name that answers differently between a check and the
//! connection (DNS rebinding) cannot slip through: there is no separate check. The
//! operator's allow list (`[fetch] allow`, `[cloud] allow`) opens listed internal
//! hosts and ranges; nothing else internal is reachable.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use futures::future::BoxFuture;
use ipnet::IpNet;
use tideway_core::net::is_internal;
use url::{Host, Url};

/// Why a URL or one of its hops was not reached. `opened_by` names the setting that
/// could open an internal host (`[fetch] allow`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("only http and https URLs are fetched, not '{0}:'")]
    Scheme(String),
    #[error(
        "a URL with a user name or password in it is not fetched; keep credentials in a connection"
    )]
    Credentials,
    #[error("the URL has no host")]
    NoHost,
    #[error(
        "{host} is an internal address (loopback, private, link-local, shared or reserved) and is not reached; the operator can open it with {opened_by}"
    )]
    InternalAddress {
        host: String,
        opened_by: &'static str,
    },
    #[error(
        "{host} resolves to an internal address (loopback, private, link-local, shared or reserved) and is not reached; the operator can open it with {opened_by}"
    )]
    InternalName {
        host: String,
        opened_by: &'static str,
    },
    #[error("{host} does not resolve: {reason}")]
    Unresolved { host: String, reason: String },
}

impl Refusal {
    /// Whether the refusal is Tideway's policy (rather than a name that does not
    /// resolve, which is the network's answer).
    pub fn is_policy(&self) -> bool {
        !matches!(self, Refusal::Unresolved { .. })
    }
}

/// One entry of an allow list (`[fetch] allow`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Allowed {
    Range(IpNet),
    Host(String),
    /// `*.corp.example`: names below the domain, not the domain itself.
    Below(String),
}

impl Allowed {
    /// Reads an entry; the error says what an entry may be.
    pub fn parse(entry: &str) -> Result<Allowed, &'static str> {
        let entry = entry.trim();
        if let Ok(range) = entry.parse::<IpNet>() {
            return Ok(Allowed::Range(range.trunc()));
        }
        if let Ok(address) = entry
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return Ok(Allowed::Range(IpNet::from(address)));
        }
        let (below, name) = match entry.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, entry),
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let valid = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            });
        if !valid {
            return Err("is neither an address, a range (10.0.0.0/8), a host name nor *.domain");
        }
        Ok(if below {
            Allowed::Below(name)
        } else {
            Allowed::Host(name)
        })
    }
}

/// How host names are turned into addresses: the system resolver in production; a
/// test can answer as a hostile DNS server would.
pub trait Lookup: Send + Sync + 'static {
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>>;
}

/// The system's resolver (`getaddrinfo` on a blocking thread).
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let host = host.to_string();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|address| address.ip())
                .collect())
        })
    }
}

/// The rules every hop of every request is held to.
pub struct Policy {
    allowed: Vec<Allowed>,
    lookup: Arc<dyn Lookup>,
    opened_by: &'static str,
}

impl Policy {
    /// The policy over an allow list (already checked at load); `opened_by` names the
    /// setting it comes from, for the refusals.
    pub fn new(
        allow: &[String],
        lookup: Arc<dyn Lookup>,
        opened_by: &'static str,
    ) -> Result<Self, String> {
        let allowed = allow
            .iter()
            .map(|entry| Allowed::parse(entry).map_err(|reason| format!("'{entry}' {reason}")))
            .collect::<Result<_, _>>()?;
        Ok(Policy {
            allowed,
            lookup,
            opened_by,
        })
    }

    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.allowed.iter().any(|allowed| match allowed {
            Allowed::Host(name) => host.eq_ignore_ascii_case(name),
            Allowed::Below(domain) => host
                .to_ascii_lowercase()
                .strip_suffix(domain.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            Allowed::Range(_) => false,
        })
    }

    /// Whether the address may be connected to: it is on the internet, or in a range
    /// the operator opened. IPv4-mapped IPv6 addresses are judged as the IPv4 address.
    pub fn address_allowed(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        !is_internal(address)
            || self.allowed.iter().any(|allowed| match allowed {
                Allowed::Range(range) => range.contains(&address),
                _ => false,
            })
    }

    /// Checks what can be checked without the network: the scheme, credentials in the
    /// URL, and a host that is an address (the HTTP client does not resolve those, so
    /// [`CheckedResolver`] never sees them). The URL parser has already read every
    /// spelling of an address (decimal, octal, hex, short forms, percent-encoding,
    /// full-width digits) into the address itself.
    pub fn check_url(&self, url: &Url) -> Result<(), Refusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal::Scheme(url.scheme().chars().take(16).collect()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refusal::Credentials);
        }
        let address = match url.host() {
            None => return Err(Refusal::NoHost),
            Some(Host::Domain(_)) => return Ok(()),
            Some(Host::Ipv4(address)) => IpAddr::V4(address),
            Some(Host::Ipv6(address)) => IpAddr::V6(address),
        };
        if self.address_allowed(address) {
            Ok(())
        } else {
            Err(Refusal::InternalAddress {
                host: url.host_str().unwrap_or_default().to_string(),
                opened_by: self.opened_by,
            })
        }
    }

    /// Resolves a host name once and returns its addresses if every one may be
    /// reached (a name the operator listed may resolve anywhere).
    pub async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, Refusal> {
        let addresses = self
            .lookup
            .lookup(host)
            .await
            .map_err(|error| Refusal::Unresolved {
                host: host.to_string(),
                reason: error.to_string(),
            })?;
        if addresses.is_empty() {
            return Err(Refusal::Unresolved {
                host: host.to_string(),
                reason: "no addresses".into(),
            });
        }
        if self.host_allowed(host) {
            return Ok(addresses);
        }
        if let Some(address) = addresses
            .iter()
            .find(|address| !self.address_allowed(**address))
        {
            tracing::info!(host, %address, "refused a name resolving to an internal address");
            return Err(Refusal::InternalName {
                host: host.to_string(),
                opened_by: self.opened_by,
            });
        }
        Ok(addresses)
    }
}

/// The HTTP client's resolver: every name it connects to goes through
/// [`Policy::resolve`], and it connects to nothing but the answer.
pub struct CheckedResolver(pub Arc<Policy>);

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addresses = policy.resolve(&host).await?;
            let addresses: reqwest::dns::Addrs = Box::new(
                addresses
                    .into_iter()
                    .map(|address| SocketAddr::new(address, 0)),
            );
            Ok(addresses)
        })
    }
}

/// The refusal somewhere in an HTTP client error's chain, if that is why it failed.
pub fn refusal_in(error: &(dyn std::error::Error + 'static)) -> Option<Refusal> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(refusal) = error.downcast_ref::<Refusal>() {
            return Some(refusal.clone());
        }
        current = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_entries_read_as_ranges_and_names() {
        assert_eq!(
            Allowed::parse("10.1.2.3"),
            Ok(Allowed::Range("10.1.2.3/32".parse().expect("net")))
        );
        assert_eq!(
            Allowed::parse("10.20.1.0/16"),
            Ok(Allowed::Range("10.20.0.0/16".parse().expect("net")))
        );
        assert_eq!(
            Allowed::parse("[::1]"),
            Ok(Allowed::Range("::1/128".parse().expect("net")))
        );
        assert_eq!(
            Allowed::parse("Wiki.Corp.Example."),
            Ok(Allowed::Host("wiki.corp.example".into()))
        );
        assert_eq!(
            Allowed::parse("*.corp.example"),
            Ok(Allowed::Below("corp.example".into()))
        );
        for bad in ["", "http://x", "a..b", "10.0.0.0/33", "*.", "x y"] {
            assert!(Allowed::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn listed_names_and_ranges_open_exactly_what_they_say() {
        let policy = Policy::new(
            &[
                "*.corp.example".into(),
                "db.example".into(),
                "10.5.0.0/16".into(),
            ],
            Arc::new(SystemLookup),
            "[fetch] allow",
        )
        .expect("policy");
        assert!(policy.host_allowed("wiki.corp.example"));
        assert!(policy.host_allowed("WIKI.corp.example."));
        assert!(!policy.host_allowed("corp.example"));
        assert!(!policy.host_allowed("evilcorp.example"));
        assert!(policy.host_allowed("db.example"));
        assert!(!policy.host_allowed("x.db.example"));
        assert!(policy.address_allowed("10.5.9.9".parse().expect("ip")));
        assert!(policy.address_allowed("::ffff:10.5.9.9".parse().expect("ip")));
        assert!(!policy.address_allowed("10.6.0.1".parse().expect("ip")));
        assert!(policy.address_allowed("93.184.216.34".parse().expect("ip")));
    }
}
