//! The roster of accounts to invoice, spread over shards so listing a million accounts never reads
//! one hot key.

use crate::ids::AccountId;

/// The roster of accounts to invoice is spread over this many partitions.
pub const ROSTER_SHARDS: u8 = 16;

/// The roster shard of an account: a stable hash (FNV-1a) of its id.
pub fn roster_shard(account: &AccountId) -> u8 {
    (fnv1a(account.as_str()) % u64::from(ROSTER_SHARDS)) as u8
}

/// FNV-1a, 64 bits: stable across builds and platforms.
pub(crate) fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roster_shards_are_stable_and_spread() {
        let shards: std::collections::BTreeSet<u8> = (0..200)
            .map(|i| roster_shard(&AccountId::parse(&format!("acct-{i}")).expect("id")))
            .collect();
        assert_eq!(shards.len(), usize::from(ROSTER_SHARDS));
        let a = AccountId::parse("acct-1").expect("id");
        assert_eq!(roster_shard(&a), roster_shard(&a));
    }
}
