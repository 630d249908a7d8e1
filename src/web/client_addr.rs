//! Who the client is: the TCP peer, or, when the peer is a trusted proxy (a load balancer in
//! front of several brokers), the address the proxies recorded in `X-Forwarded-For`.
//!
//! Guarantees: the header is believed only from a peer in `server.trusted_proxies`, and only
//! as far as the chain of trusted proxies goes. Walking its addresses from the right (the hop
//! nearest the broker), the first one that is not a trusted proxy is the client; whatever a
//! client wrote further left is never read. An entry that is not an address ends the walk at
//! the trusted hop that passed it on. With no trusted proxies (the default) the header is
//! ignored, so no client can choose the address the sign-in limit and the audit log see.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> TrustedProxies {
        TrustedProxies(nets)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address for a request from `peer` with these headers.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        // Several header lines are one list, in order (RFC 9110, 5.3); a line that is not
        // text is one entry that is not an address.
        let lines = headers.get_all("x-forwarded-for").iter().rev();
        let hops = lines.flat_map(|line| match line.to_str() {
            Ok(text) => text.rsplit(',').collect(),
            Err(_) => vec![""],
        });
        for hop in hops {
            let Ok(ip) = hop.trim().parse::<IpAddr>() else {
                break;
            };
            client = ip.to_canonical();
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| n.parse().unwrap()).collect())
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for line in lines {
            h.append("x-forwarded-for", line.parse().unwrap());
        }
        h
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let none = TrustedProxies::default();
        let h = headers(&["198.51.100.7"]);
        assert_eq!(none.client_ip(ip("10.0.0.5"), &h), ip("10.0.0.5"));
    }

    #[test]
    fn from_a_peer_that_is_not_a_trusted_proxy_the_header_is_ignored() {
        let lb = proxies(&["10.0.0.0/24"]);
        let h = headers(&["198.51.100.7"]);
        assert_eq!(lb.client_ip(ip("10.0.1.5"), &h), ip("10.0.1.5"));
    }

    #[test]
    fn the_first_address_from_the_right_that_is_not_a_trusted_proxy_is_the_client() {
        let lb = proxies(&["10.0.0.0/24", "192.0.2.9/32"]);
        // The client wrote "203.0.113.1" itself; the edge proxy appended what it saw.
        let h = headers(&["203.0.113.1, 198.51.100.7, 192.0.2.9"]);
        assert_eq!(lb.client_ip(ip("10.0.0.5"), &h), ip("198.51.100.7"));
        let split = headers(&["203.0.113.1, 198.51.100.7", "192.0.2.9"]);
        assert_eq!(lb.client_ip(ip("10.0.0.5"), &split), ip("198.51.100.7"));
    }

    #[test]
    fn a_missing_header_or_a_chain_of_proxies_only_gives_the_last_proxy_seen() {
        let lb = proxies(&["10.0.0.0/24"]);
        assert_eq!(
            lb.client_ip(ip("10.0.0.5"), &HeaderMap::new()),
            ip("10.0.0.5")
        );
        let h = headers(&["10.0.0.7, 10.0.0.6"]);
        assert_eq!(lb.client_ip(ip("10.0.0.5"), &h), ip("10.0.0.7"));
    }

    #[test]
    fn an_entry_that_is_not_an_address_ends_the_walk_at_the_proxy_that_passed_it() {
        let lb = proxies(&["10.0.0.0/24"]);
        let h = headers(&["198.51.100.7, unknown, 10.0.0.6"]);
        assert_eq!(lb.client_ip(ip("10.0.0.5"), &h), ip("10.0.0.6"));
        let port = headers(&["198.51.100.7:4711"]);
        assert_eq!(lb.client_ip(ip("10.0.0.5"), &port), ip("10.0.0.5"));
        let mut not_text = HeaderMap::new();
        let bytes = axum::http::HeaderValue::from_bytes(b"198.51.100.7\xff").unwrap();
        not_text.append("x-forwarded-for", bytes);
        not_text.append("x-forwarded-for", "10.0.0.6".parse().unwrap());
        assert_eq!(lb.client_ip(ip("10.0.0.5"), &not_text), ip("10.0.0.6"));
    }

    #[test]
    fn ipv4_mapped_ipv6_peers_and_hops_are_compared_as_ipv4() {
        let lb = proxies(&["10.0.0.0/24"]);
        let h = headers(&["::ffff:198.51.100.7"]);
        assert_eq!(lb.client_ip(ip("::ffff:10.0.0.5"), &h), ip("198.51.100.7"));
    }
}
