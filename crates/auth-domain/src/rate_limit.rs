//! Rate limits, the limiter's decision, and the error a refused request carries.

use std::time::Duration;

/// At most `max` events per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub window: Duration,
}

impl RateLimit {
    pub const fn new(max: u32, window: Duration) -> Self {
        Self { max, window }
    }
}

/// What the limiter decided about one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// When the window frees up again; on a refusal, how long the caller should wait.
    pub reset_after: Duration,
}

impl RateDecision {
    /// The error to return when this decision refused the event.
    pub fn exceeded(&self) -> Option<RateLimitExceeded> {
        (!self.allowed).then_some(RateLimitExceeded { limit: self.limit, retry_after: self.reset_after })
    }
}

/// A request refused by a rate limit: the HTTP layer answers 429 with these figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limit of {limit} exceeded; retry after {retry_after:?}")]
pub struct RateLimitExceeded {
    pub limit: u32,
    pub retry_after: Duration,
}

/// The network a client address is limited as: an IPv4 address itself, an IPv6 address's /64
/// (one subscriber's allocation, whose 2^64 addresses would otherwise each get a fresh count),
/// and an IPv4-mapped IPv6 address as its IPv4 address. Text that is not an address is its own key.
pub fn client_network(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(address) => client_network_of(address),
        Err(_) => ip.to_owned(),
    }
}

/// [`client_network`] of an address already parsed.
pub fn client_network_of(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let prefix = u128::from(v6) & (u128::MAX << 64);
                format!("{}/64", std::net::Ipv6Addr::from(prefix))
            }
        },
        std::net::IpAddr::V4(v4) => v4.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::client_network;

    #[test]
    fn an_ipv4_address_is_its_own_network() {
        assert_eq!(client_network("203.0.113.7"), "203.0.113.7");
        assert_ne!(client_network("203.0.113.7"), client_network("203.0.113.8"));
    }

    #[test]
    fn the_addresses_of_one_ipv6_64_share_a_key_and_other_64s_do_not() {
        assert_eq!(client_network("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
        assert_eq!(client_network("2001:db8:1:2::1"), client_network("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        assert_ne!(client_network("2001:db8:1:2::1"), client_network("2001:db8:1:3::1"));
        assert_eq!(client_network("2001:0DB8:0001:0002::9"), "2001:db8:1:2::/64", "any spelling of it");
    }

    #[test]
    fn an_ipv4_mapped_ipv6_address_is_limited_as_its_ipv4_address() {
        assert_eq!(client_network("::ffff:203.0.113.7"), "203.0.113.7");
    }

    #[test]
    fn text_that_is_no_address_is_its_own_key() {
        assert_eq!(client_network("unknown"), "unknown");
    }
}
