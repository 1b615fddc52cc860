//! Who a client is, for its budget: the verified user in `jwt` mode, otherwise its IP
//! address: the connection's peer, or the `X-Forwarded-For` entry `TRUSTED_PROXY_HOPS` from
//! the right when the server sits behind that many proxies that append to it.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// The peer address of the connection a request came on (put there by the accept loop).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// The key of one client's budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// A verified user (`AUTH_MODE=jwt`).
    User(u64),
    /// An IPv4 address, or an IPv6 /64 network (one host usually holds a whole /64, so
    /// keying single IPv6 addresses would give it billions of budgets).
    Ip(IpAddr),
}

impl ClientKey {
    /// The key of a client at `ip`.
    pub fn ip(ip: IpAddr) -> ClientKey {
        ClientKey::Ip(match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(network))
            }
            v4 => v4,
        })
    }
}

/// The client's IP: with `hops` trusted proxies, the `X-Forwarded-For` entry `hops` from
/// the right (entries further left were written by the client and prove nothing); with
/// fewer entries than that, the leftmost (every one was added by a trusted proxy); with no
/// header, an entry that is no address, or `hops` 0, the peer address. `forwarded_for` is
/// every X-Forwarded-For header value, in order.
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded_for: impl IntoIterator<Item = &'a str>,
    hops: usize,
) -> IpAddr {
    if hops == 0 {
        return peer;
    }
    let entries: Vec<&str> = forwarded_for
        .into_iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let Some(entry) = entries.get(entries.len().saturating_sub(hops)) else {
        return peer;
    };
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|addr| addr.ip()))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        let peer = ip("127.0.0.9");
        assert_eq!(client_ip(peer, ["203.0.113.7"], 0), peer);
        assert_eq!(client_ip(peer, [], 1), peer);
    }

    #[test]
    fn the_entry_hops_from_the_right_is_the_client() {
        let peer = ip("127.0.0.9");
        let header = ["198.51.100.1, 203.0.113.7", "192.0.2.44"];
        assert_eq!(client_ip(peer, header, 1), ip("192.0.2.44"));
        assert_eq!(client_ip(peer, header, 2), ip("203.0.113.7"));
        assert_eq!(client_ip(peer, header, 3), ip("198.51.100.1"));
        assert_eq!(
            client_ip(peer, header, 5),
            ip("198.51.100.1"),
            "fewer entries: leftmost"
        );
        // What a client writes itself sits further left and changes nothing.
        let spoofed = ["1.1.1.1, 2.2.2.2, 192.0.2.44"];
        assert_eq!(client_ip(peer, spoofed, 1), ip("192.0.2.44"));
        assert_eq!(client_ip(peer, ["[2001:db8::1]:443"], 1), ip("2001:db8::1"));
        assert_eq!(client_ip(peer, ["unknown"], 1), peer);
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64_network() {
        assert_eq!(
            ClientKey::ip(ip("2001:db8:1:2:aaaa::1")),
            ClientKey::ip(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            ClientKey::ip(ip("2001:db8:1:2::1")),
            ClientKey::ip(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            ClientKey::ip(ip("::ffff:192.0.2.1")),
            ClientKey::Ip(ip("192.0.2.1"))
        );
    }
}
