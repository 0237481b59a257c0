//! The client's address behind reverse proxies ([`TrustedProxies`],
//! `[server] trusted_proxies` and `forwarded_header`).
//!
//! The failed-authentication limit, protected mode and the audit trail
//! key on the client's address. Behind nginx every TCP peer is nginx, so
//! without this one client's bad tokens would lock out every client. The
//! forwarding header is believed only when the TCP peer is a trusted
//! proxy, and then only up to the rightmost hop that is not itself a
//! trusted proxy: every hop to the left of it was written by a party we
//! do not trust (the client can send any `X-Forwarded-For` it likes,
//! and the proxy appends to it).
//!
//! The header the proxy manages ([`ForwardedHeader`], `[server]
//! forwarded_header`) is read; the other one only when a trusted proxy
//! sent none of the configured one (a proxy that sets neither should not
//! be trusted). A proxy passes the other header on as the client sent it,
//! so preferring it would believe the client.
//!
//! Sources: RFC 7239 (`Forwarded`), MDN's "X-Forwarded-For: selecting an
//! IP address" (the rightmost-untrusted rule).

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// Which header carries the hops a trusted proxy appends to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx's
    /// `$proxy_add_x_forwarded_for`, HAProxy, Envoy, cloud load
    /// balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

impl ForwardedHeader {
    /// The other header.
    pub fn other(self) -> Self {
        match self {
            Self::XForwardedFor => Self::Forwarded,
            Self::Forwarded => Self::XForwardedFor,
        }
    }

    /// The header's name, lowercase.
    pub fn name(self) -> &'static str {
        match self {
            Self::XForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
        }
    }
}

/// The proxies whose forwarding header is believed. Empty (the default),
/// the client is the TCP peer.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    /// Proxies in `nets` (CIDRs; an address is a /32 or /128), which
    /// append to `header`.
    pub fn new(nets: Vec<IpNet>, header: ForwardedHeader) -> Self {
        Self { nets, header }
    }

    /// The header read from a trusted peer.
    pub fn header(&self) -> ForwardedHeader {
        self.header
    }

    /// Whether `ip` is a trusted proxy (an IPv4-mapped IPv6 address counts
    /// as its IPv4 address).
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// The caller as the audit trail names it: the TCP `peer`'s socket
    /// address, or, from a trusted proxy, the forwarded `client`.
    pub(crate) fn audit_peer(
        &self,
        peer: Option<SocketAddr>,
        client: Option<IpAddr>,
    ) -> Option<String> {
        match peer {
            Some(peer) if !self.trusts(peer.ip()) => Some(peer.to_string()),
            _ => client.map(|ip| ip.to_string()),
        }
    }

    /// Whether a request from `peer` comes through a trusted proxy.
    pub fn trusts_peer(&self, peer: Option<IpAddr>) -> bool {
        peer.is_some_and(|ip| self.trusts(ip))
    }

    /// The client of a request from TCP `peer` whose header lines are
    /// `values(header)`, in the order they arrived: those of the
    /// configured [`header`](Self::header), or of the other one when a
    /// trusted peer sent none of it.
    ///
    /// `peer` itself unless it is a trusted proxy. Otherwise the hops
    /// are read from the right: the first one that is not a trusted proxy
    /// is the client; when every hop is trusted, the leftmost is. A hop
    /// that is not an address (`unknown`, an obfuscated RFC 7239
    /// identifier, garbage) ends the walk at the trusted hop to its right,
    /// since nothing to its left can be believed.
    pub fn client<'a>(
        &self,
        peer: Option<IpAddr>,
        values: impl Fn(ForwardedHeader) -> Vec<&'a str>,
    ) -> Option<IpAddr> {
        let peer = peer?;
        if !self.trusts(peer) {
            return Some(peer);
        }
        let mut header = self.header;
        let mut lines = values(header);
        if lines.is_empty() {
            header = header.other();
            lines = values(header);
        }
        let hops: Vec<Option<IpAddr>> = match header {
            ForwardedHeader::XForwardedFor => lines
                .into_iter()
                .flat_map(|v| v.split(','))
                .map(parse_hop)
                .collect(),
            ForwardedHeader::Forwarded => lines
                .into_iter()
                .flat_map(split_unquoted(','))
                .map(|element| forwarded_for(&element))
                .collect(),
        };
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = *hop else {
                return Some(client);
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        Some(client)
    }
}

/// An address as a hop writes it: `192.0.2.1`, `192.0.2.1:4711`,
/// `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn parse_hop(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    raw.parse::<IpAddr>()
        .ok()
        .or_else(|| raw.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            raw.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| r.parse().ok())
        })
}

/// The `for` parameter of one RFC 7239 `forwarded-element`
/// (`for=192.0.2.60;proto=http`, `For="[2001:db8:cafe::17]:4711"`), or
/// `None` when it has none or it is not an address.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    split_unquoted(';')(element).into_iter().find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        parse_hop(value)
    })
}

/// Splits on `separator` outside double quotes (RFC 7230 quoted-string,
/// whose backslash escapes are honoured).
fn split_unquoted(separator: char) -> impl Fn(&str) -> Vec<String> {
    move |s: &str| {
        let mut parts = Vec::new();
        let mut current = String::new();
        let (mut quoted, mut escaped) = (false, false);
        for c in s.chars() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                c if c == separator && !quoted => {
                    parts.push(std::mem::take(&mut current));
                    continue;
                }
                _ => {}
            }
            current.push(c);
        }
        parts.push(current);
        parts
    }
}

/// The client of an HTTP request ([`TrustedProxies::client`] over its
/// TCP peer and forwarding header lines; a line that is not text counts
/// as garbage).
pub(crate) fn http_client(
    req: &actix_web::HttpRequest,
    proxies: &TrustedProxies,
) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip());
    let headers = req.headers();
    proxies.client(peer, |header| {
        headers
            .get_all(header.name())
            .map(|v| v.to_str().unwrap_or("?"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(nets: &[&str], header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| n.parse().unwrap()).collect(), header)
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    /// Header lines: `values` for `header`, none for the other.
    fn only<'a>(
        header: ForwardedHeader,
        values: Vec<&'a str>,
    ) -> impl Fn(ForwardedHeader) -> Vec<&'a str> {
        move |h| {
            if h == header {
                values.clone()
            } else {
                Vec::new()
            }
        }
    }
    const XFF: ForwardedHeader = ForwardedHeader::XForwardedFor;
    const FWD: ForwardedHeader = ForwardedHeader::Forwarded;

    #[test]
    fn without_trusted_proxies_the_client_is_the_peer() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(Some(ip("127.0.0.1")), only(XFF, vec!["203.0.113.9"])),
            Some(ip("127.0.0.1"))
        );
        assert_eq!(none.client(None, only(XFF, vec!["203.0.113.9"])), None);
        let some = proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        // An untrusted peer's header is not believed.
        assert_eq!(
            some.client(Some(ip("198.51.100.1")), only(XFF, vec!["203.0.113.9"])),
            Some(ip("198.51.100.1"))
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let p = proxies(
            &["10.0.0.0/8", "127.0.0.1/32"],
            ForwardedHeader::XForwardedFor,
        );
        let peer = Some(ip("127.0.0.1"));
        for (values, client) in [
            (vec!["203.0.113.9"], "203.0.113.9"),
            // The client wrote the leftmost hop itself.
            (vec!["1.2.3.4, 203.0.113.9"], "203.0.113.9"),
            (vec!["1.2.3.4, 203.0.113.9, 10.1.2.3"], "203.0.113.9"),
            // Several header lines are one list, in order.
            (vec!["1.2.3.4", "203.0.113.9", "10.1.2.3"], "203.0.113.9"),
            // Every hop trusted: the leftmost.
            (vec!["10.9.9.9, 10.1.2.3"], "10.9.9.9"),
            (vec!["[2001:db8::1]:4711"], "2001:db8::1"),
            (vec!["203.0.113.9:5555"], "203.0.113.9"),
            (vec!["::ffff:10.1.1.1, 2001:db8::7"], "2001:db8::7"),
            // Garbage ends the walk at the trusted hop to its right.
            (vec!["203.0.113.9, nonsense, 10.1.2.3"], "10.1.2.3"),
            (vec!["nonsense"], "127.0.0.1"),
            // No header: the proxy itself.
            (vec![], "127.0.0.1"),
        ] {
            assert_eq!(
                p.client(peer, only(XFF, values.clone())),
                Some(ip(client)),
                "{values:?}"
            );
        }
    }

    #[test]
    fn rfc_7239_forwarded_elements_are_read_when_configured() {
        let p = proxies(&["127.0.0.0/8"], ForwardedHeader::Forwarded);
        let peer = Some(ip("127.0.0.1"));
        for (value, client) in [
            ("for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"),
            (
                r#"for=1.2.3.4, For="[2001:db8:cafe::17]:4711""#,
                "2001:db8:cafe::17",
            ),
            (r#"for="_gazonk", for=198.51.100.17"#, "198.51.100.17"),
            (
                r#"for=198.51.100.17;by="a,b", for=127.0.0.2"#,
                "198.51.100.17",
            ),
            ("for=unknown", "127.0.0.1"),
            ("proto=https", "127.0.0.1"),
        ] {
            assert_eq!(
                p.client(peer, only(FWD, vec![value])),
                Some(ip(client)),
                "{value}"
            );
        }
    }

    #[test]
    fn the_other_header_is_read_only_when_the_configured_one_is_absent() {
        let p = proxies(&["127.0.0.0/8"], XFF);
        let peer = Some(ip("127.0.0.1"));
        let both = |h| match h {
            ForwardedHeader::XForwardedFor => vec!["198.51.100.1"],
            ForwardedHeader::Forwarded => vec!["for=203.0.113.5"],
        };
        assert_eq!(p.client(peer, both), Some(ip("198.51.100.1")));
        assert_eq!(
            p.client(peer, only(FWD, vec!["for=203.0.113.5"])),
            Some(ip("203.0.113.5"))
        );
        let rfc = proxies(&["127.0.0.0/8"], FWD);
        assert_eq!(rfc.client(peer, both), Some(ip("203.0.113.5")));
        assert_eq!(
            rfc.client(peer, only(XFF, vec!["198.51.100.1"])),
            Some(ip("198.51.100.1"))
        );
    }
}
