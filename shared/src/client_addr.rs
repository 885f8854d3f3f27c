//! The client's network address, for per-address abuse limits.
//!
//! It is the connection's peer, unless that peer is one of our own proxies
//! (`TRUSTED_PROXIES`, a CIDR list): then it is the right-most hop of
//! `X-Forwarded-For` that is not itself a trusted proxy. Hops further left
//! were written by the client and prove nothing, so a client cannot choose
//! its address by sending the header itself.

use std::future::{Ready, ready};
use std::net::{IpAddr, Ipv6Addr};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use ipnet::IpNet;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("TRUSTED_PROXIES holds {0:?}, which is not an address or CIDR block (e.g. 10.0.0.0/8)")]
pub struct InvalidTrustedProxies(pub String);

/// Addresses whose `X-Forwarded-For` is believed; shared as app data.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list of CIDR blocks or single addresses.
    pub fn parse(list: &str) -> Result<Self, InvalidTrustedProxies> {
        list.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| InvalidTrustedProxies(item.to_owned()))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    fn trusts(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client's address given the peer and the `X-Forwarded-For` values
    /// in the order received.
    pub fn client_of<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    ) -> IpAddr {
        let mut client = canonical(peer);
        if !self.trusts(client) {
            return client;
        }
        for hop in forwarded_for.rev().flat_map(|v| v.rsplit(',')) {
            match hop.trim().parse::<IpAddr>() {
                Ok(addr) => {
                    client = canonical(addr);
                    if !self.trusts(client) {
                        break;
                    }
                }
                // A hop our proxy could not have written: stop at the
                // last one it vouched for.
                Err(_) => break,
            }
        }
        client
    }
}

/// IPv4-mapped IPv6 addresses count as the IPv4 address they carry.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The calling client's address (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// What a per-address limit counts against: the address itself for
    /// IPv4, the /64 network for IPv6 (one subscriber usually holds a whole
    /// /64, so single IPv6 addresses are free to rotate).
    pub fn limit_key(&self) -> String {
        match self.0 {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let segments = v6.segments();
                let network = Ipv6Addr::new(
                    segments[0],
                    segments[1],
                    segments[2],
                    segments[3],
                    0,
                    0,
                    0,
                    0,
                );
                format!("{network}/64")
            }
        }
    }
}

impl FromRequest for ClientAddr {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let peer = req
            .peer_addr()
            .map_or(IpAddr::from([0, 0, 0, 0]), |addr| addr.ip());
        let forwarded = req
            .headers()
            .get_all("X-Forwarded-For")
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>();
        let client = match req.app_data::<web::Data<TrustedProxies>>() {
            Some(trusted) => trusted.client_of(peer, forwarded.into_iter()),
            None => canonical(peer),
        };
        ready(Ok(Self(client)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        assert_eq!(
            trusted.client_of(ip("203.0.113.9"), ["1.2.3.4"].into_iter()),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, 192.168.1.1").unwrap();
        // The client claims 6.6.6.6; our proxies appended what they saw.
        let headers = ["6.6.6.6, 198.51.100.7", "10.1.1.1"];
        assert_eq!(
            trusted.client_of(ip("192.168.1.1"), headers.into_iter()),
            ip("198.51.100.7")
        );
        // Nothing forwarded: the proxy itself is all we know.
        assert_eq!(
            trusted.client_of(ip("10.0.0.5"), std::iter::empty()),
            ip("10.0.0.5")
        );
        // Garbage to the right of a trusted hop stops the walk there.
        assert_eq!(
            trusted.client_of(ip("10.0.0.5"), ["198.51.100.7, junk"].into_iter()),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn mapped_ipv6_is_ipv4_and_ipv6_limits_count_per_64() {
        let trusted = TrustedProxies::parse("127.0.0.1/32").unwrap();
        assert!(trusted.trusts(ip("::ffff:127.0.0.1")));
        let a = ClientAddr(ip("2001:db8:1:2:aaaa::1")).limit_key();
        let b = ClientAddr(ip("2001:db8:1:2:bbbb::9")).limit_key();
        assert_eq!(a, b);
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(ClientAddr(ip("198.51.100.7")).limit_key(), "198.51.100.7");
    }

    #[test]
    fn bad_entries_are_named() {
        assert_eq!(
            TrustedProxies::parse("10.0.0.0/8,nonsense").unwrap_err(),
            InvalidTrustedProxies("nonsense".to_owned())
        );
        assert!(TrustedProxies::parse("").unwrap().0.is_empty());
    }
}
