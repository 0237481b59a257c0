//! [`ProtectedMode`]: without API keys, which peers may act (Redis's
//! protected mode). The [`Acting`](crate::edge::auth::Acting) extractor applies it.

use std::net::IpAddr;

use ipnet::IpNet;

/// Protected mode (as Redis's): without API keys, only peers in
/// `trusted` may act; the others get 403 `protected_mode`.
#[derive(Clone, Debug, Default)]
pub struct ProtectedMode {
    /// Whether the check applies: `auth.mode = "on"` and no API keys.
    pub enabled: bool,
    /// `auth.trusted_networks`.
    pub trusted: Vec<IpNet>,
}

impl ProtectedMode {
    /// The default `auth.trusted_networks`: loopback only.
    pub const DEFAULT_TRUSTED_NETWORKS: [&str; 2] = ["127.0.0.0/8", "::1/128"];

    /// Whether `peer` may act: the check is off, or `peer` is in a
    /// trusted network. An IPv4-mapped IPv6 peer (`::ffff:a.b.c.d`)
    /// counts as its IPv4 address; an unknown peer is not trusted.
    pub fn admits(&self, peer: Option<IpAddr>) -> bool {
        if !self.enabled {
            return true;
        }
        let Some(peer) = peer.map(|ip| ip.to_canonical()) else {
            return false;
        };
        self.trusted.iter().any(|net| net.contains(&peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn protected(nets: &[&str]) -> ProtectedMode {
        ProtectedMode {
            enabled: true,
            trusted: nets.iter().map(|n| n.parse().unwrap()).collect(),
        }
    }
    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn protected_mode_admits_only_trusted_peers() {
        let mode = protected(&ProtectedMode::DEFAULT_TRUSTED_NETWORKS);
        for trusted in ["127.0.0.1", "127.255.0.9", "::1", "::ffff:127.0.0.1"] {
            assert!(mode.admits(ip(trusted)), "{trusted}");
        }
        for outside in ["10.0.0.1", "128.0.0.1", "::2", "::ffff:10.0.0.1", "fe80::1"] {
            assert!(!mode.admits(ip(outside)), "{outside}");
        }
        assert!(!mode.admits(None));
        let narrow = protected(&["127.0.0.1/32", "10.1.0.0/16"]);
        assert!(narrow.admits(ip("127.0.0.1")));
        assert!(!narrow.admits(ip("127.0.0.2")));
        assert!(narrow.admits(ip("10.1.200.3")));
        assert!(!narrow.admits(ip("10.2.0.1")));
        assert!(!protected(&[]).admits(ip("127.0.0.1")));
    }

    #[test]
    fn protected_mode_off_admits_everyone() {
        let off = ProtectedMode {
            enabled: false,
            trusted: Vec::new(),
        };
        assert!(off.admits(ip("203.0.113.7")));
        assert!(off.admits(None));
    }
}
