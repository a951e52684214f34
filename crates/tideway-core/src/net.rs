//! Which network addresses a tenant may reach. A tenant's own targets (an upstream
//! MCP server, a database host, later a fetched URL) must not let it reach the
//! operator's network: loopback, private ranges, link-local (cloud metadata lives
//! there), shared address space (CGNAT) and the unspecified and broadcast addresses
//! are internal. Names are resolved and every address they resolve to is checked, so
//! a name pointing inward is refused like the address itself; callers connect to
//! the addresses checked here, so a later change of the name's records does not help.

use std::net::{IpAddr, SocketAddr};

/// Why a target was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("host '{host}' does not resolve: {reason}")]
    Unresolved { host: String, reason: String },
    #[error(
        "host '{host}' is {address}, an internal address (loopback, private, link-local or shared)"
    )]
    Internal { host: String, address: IpAddr },
}

/// Whether `ip` belongs to the operator's own network rather than the internet, or
/// is no single host's address at all (multicast, broadcast, reserved).
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                // 100.64.0.0/10, shared address space (CGNAT; one cloud's metadata
                // service answers at 100.100.100.200)
                || a == 100 && (b & 0xc0) == 64
                // 192.0.0.0/24, protocol assignments (another cloud's metadata
                // service answers at 192.0.0.192)
                || a == 192 && b == 0 && c == 0
                // 198.18.0.0/15, benchmarking networks
                || a == 198 && (b & 0xfe) == 18
                // 240.0.0.0/4, reserved
                || a >= 240
        }
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            let first = segments[0];
            let embedded = |high: u16, low: u16| {
                is_internal(IpAddr::V4(std::net::Ipv4Addr::from(
                    (u32::from(high) << 16) | u32::from(low),
                )))
            };
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // fc00::/7 unique local (fd00:ec2::254 is one cloud's metadata
                // service), fe80::/10 link-local, fec0::/10 the former site-local
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
                || v6.to_ipv4_mapped().is_some_and(|v4| is_internal(IpAddr::V4(v4)))
                // ::a.b.c.d, the deprecated IPv4-compatible form
                || (segments[..6] == [0, 0, 0, 0, 0, 0] && embedded(segments[6], segments[7]))
                // 64:ff9b::/96 NAT64 of an internal IPv4 address
                || (segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
                    && embedded(segments[6], segments[7]))
                // 2002::/16, 6to4 of an internal IPv4 address
                || (first == 0x2002 && embedded(segments[1], segments[2]))
        }
    }
}

/// The host part as an address, when it is one (`[::1]` included).
fn literal(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Resolves `host` and returns its addresses if none of them is internal.
pub async fn resolve_external(host: &str, port: u16) -> Result<Vec<SocketAddr>, AddressError> {
    let addresses: Vec<SocketAddr> = match literal(host) {
        Some(ip) => vec![SocketAddr::new(ip, port)],
        None => tokio::net::lookup_host((host, port))
            .await
            .map_err(|error| AddressError::Unresolved {
                host: host.to_string(),
                reason: error.to_string(),
            })?
            .collect(),
    };
    if addresses.is_empty() {
        return Err(AddressError::Unresolved {
            host: host.to_string(),
            reason: "no addresses".into(),
        });
    }
    match addresses.iter().find(|address| is_internal(address.ip())) {
        Some(address) => Err(AddressError::Internal {
            host: host.to_string(),
            address: address.ip(),
        }),
        None => Ok(addresses),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn internal(text: &str) -> bool {
        is_internal(text.parse().expect("address"))
    }

    #[test]
    fn the_operators_network_is_internal() {
        for address in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "224.0.0.1",
            "239.255.255.250",
            "ff02::1",
            "ff05::1:3",
            "240.0.0.1",
            "192.0.0.192",
            "100.100.100.200",
            "fd00:ec2::254",
            "fec0::1",
            "::127.0.0.1",
            "::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
        ] {
            assert!(internal(address), "{address}");
        }
        for address in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "100.128.0.1",
            "192.0.1.1",
            "2002:0808:0808::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!internal(address), "{address}");
        }
    }

    #[tokio::test]
    async fn names_are_checked_by_what_they_resolve_to() {
        let refused = resolve_external("localhost", 5432)
            .await
            .expect_err("loopback");
        assert!(
            matches!(refused, AddressError::Internal { .. }),
            "{refused}"
        );
        assert!(resolve_external("[::1]", 80).await.is_err());
        assert_eq!(
            resolve_external("8.8.8.8", 53).await.expect("public")[0].port(),
            53
        );
        assert!(matches!(
            resolve_external("no-such-host.invalid", 80).await,
            Err(AddressError::Unresolved { .. })
        ));
    }
}
