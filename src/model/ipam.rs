//! IPAM objects (blocks, affinities, handles, IPAM config) as backend-neutral Rust types.
//! The etcd and Kubernetes backends translate these to their own encodings (field names differ).

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

/// One entry of a block's `attributes` array.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AllocationAttribute {
    pub handle_id: Option<String>,
    pub secondary: Option<BTreeMap<String, String>>,
    pub alternate_owner_attrs: Option<BTreeMap<String, String>>,
    pub released_at: Option<String>,
}

/// An allocation block: the CAS unit of IPAM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocationBlock {
    pub cidr: IpNet,
    /// `host:<name>` / `virtual:<name>`, or none.
    pub affinity: Option<String>,
    pub affinity_claim_time: Option<String>,
    /// Per ordinal: index into `attributes`, or free.
    pub allocations: Vec<Option<usize>>,
    /// Free ordinals in FIFO order; `None` = Go nil slice.
    pub unallocated: Option<Vec<usize>>,
    /// `None` = Go nil slice.
    pub attributes: Option<Vec<AllocationAttribute>>,
    pub sequence_number: u64,
    /// `None` = Go nil map.
    pub sequence_number_for_allocation: Option<BTreeMap<String, u64>>,
    pub deleted: bool,
    /// Legacy pre-v3 field, carried through untouched.
    pub host_affinity: Option<String>,
}

impl AllocationBlock {
    /// Number of addresses in the block.
    pub fn size(&self) -> usize {
        self.allocations.len()
    }

    /// IP at an ordinal.
    pub fn ip_at(&self, ordinal: usize) -> IpAddr {
        add_to_ip(self.cidr.network(), ordinal as u128)
    }

    /// Ordinal of an IP inside the block, if it is inside.
    pub fn ordinal_of(&self, ip: IpAddr) -> Option<usize> {
        if !self.cidr.contains(&ip) {
            return None;
        }
        let base = ip_to_u128(self.cidr.network());
        Some((ip_to_u128(ip) - base) as usize)
    }

    /// The host this block is affine to (`host:` prefix removed).
    pub fn affinity_host(&self) -> Option<&str> {
        self.affinity
            .as_deref()
            .and_then(|a| a.strip_prefix("host:"))
    }

    /// Number of allocated ordinals.
    pub fn in_use(&self) -> usize {
        self.allocations.iter().filter(|a| a.is_some()).count()
    }

    /// The attribute of an allocated ordinal.
    pub fn attribute_of(&self, ordinal: usize) -> Option<&AllocationAttribute> {
        let idx = (*self.allocations.get(ordinal)?)?;
        self.attributes.as_ref()?.get(idx)
    }
}

/// Adds an offset to an IP.
pub fn add_to_ip(ip: IpAddr, off: u128) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(std::net::Ipv4Addr::from(
            (u32::from(v4) as u128).wrapping_add(off) as u32,
        )),
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6).wrapping_add(off))),
    }
}

/// An IP as an integer.
pub fn ip_to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u32::from(v4) as u128,
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// Block affinity state machine: ∅ → pending → confirmed → pendingDeletion → ∅.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockAffinity {
    /// `pending`, `confirmed`, `pendingDeletion`, or empty (legacy = confirmed).
    pub state: String,
    pub deleted: bool,
}

/// A handle: block CIDR → number of IPs held there.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IpamHandle {
    pub block: BTreeMap<String, i64>,
    pub deleted: bool,
}

/// The IPAM configuration singleton.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpamConfig {
    pub strict_affinity: bool,
    pub auto_allocate_blocks: bool,
    pub max_blocks_per_host: i64,
    pub kubevirt_vm_address_persistence: Option<String>,
    pub ip_cooldown_seconds: Option<i64>,
}

impl Default for IpamConfig {
    /// What IPAM assumes when no config is stored.
    fn default() -> Self {
        IpamConfig {
            strict_affinity: false,
            auto_allocate_blocks: true,
            max_blocks_per_host: 0,
            kubevirt_vm_address_persistence: None,
            ip_cooldown_seconds: None,
        }
    }
}

/// `host` or `virtual` affinities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AffinityType {
    Host,
    Virtual,
}

impl AffinityType {
    pub fn as_str(self) -> &'static str {
        match self {
            AffinityType::Host => "host",
            AffinityType::Virtual => "virtual",
        }
    }
}

/// Identifies one IPAM object.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IpamKey {
    Block(IpNet),
    Affinity {
        host: String,
        affinity_type: AffinityType,
        cidr: IpNet,
    },
    Handle(String),
    Config,
}

/// The value stored under an [`IpamKey`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpamValue {
    Block(AllocationBlock),
    Affinity(BlockAffinity),
    Handle(IpamHandle),
    Config(IpamConfig),
}

/// A key, its value and the backend revision used for compare-and-swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpamKv {
    pub key: IpamKey,
    pub value: IpamValue,
    /// etcd mod revision or Kubernetes resourceVersion; empty for a new object.
    pub revision: String,
    /// Kubernetes UID (for UID-precondition deletes); None on etcd.
    pub uid: Option<String>,
}

/// What to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpamList {
    /// All blocks, or those of one IP version.
    Blocks {
        version: Option<u8>,
    },
    /// Affinities, optionally of one host / IP version.
    Affinities {
        host: Option<String>,
        version: Option<u8>,
    },
    Handles,
}

/// Why a stored IPAM value does not decode. A corrupt block is reported, never "fixed".
#[derive(Debug, thiserror::Error)]
pub enum IpamValueError {
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("value is not a JSON object")]
    NotObject,
    #[error("handle count is not an integer")]
    HandleCount,
    #[error("block has no cidr")]
    NoCidr,
    #[error("block cidr: {0}")]
    Cidr(ipnet::AddrParseError),
    #[error("block cidr {cidr} does not match its key {key}")]
    CidrKey { cidr: IpNet, key: IpNet },
    #[error("block too large")]
    TooLarge,
    #[error("allocation index is not a non-negative integer")]
    AllocationIndex,
    #[error("allocation entry is not a number or null")]
    AllocationEntry,
    #[error("allocations is not an array")]
    AllocationsNotArray,
    #[error("block {cidr} has {count} allocations, expected {size}")]
    AllocationCount {
        cidr: IpNet,
        count: usize,
        size: usize,
    },
    #[error("unallocated entry is not an integer")]
    UnallocatedEntry,
    #[error("unallocated is not an array")]
    UnallocatedNotArray,
    #[error("attribute is not an object")]
    AttributeNotObject,
    #[error("attributes is not an array")]
    AttributesNotArray,
    #[error("allocation refers to attribute {index} but there are {count}")]
    AttributeRef { index: usize, count: usize },
    #[error("unallocated ordinal {0} is outside the block")]
    UnallocatedOrdinal(usize),
    #[error("sequence number is not an integer")]
    SequenceNumber,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_and_ips() {
        let b = AllocationBlock {
            cidr: "10.0.0.8/29".parse().unwrap(),
            affinity: Some("host:n1".into()),
            affinity_claim_time: None,
            allocations: vec![None; 8],
            unallocated: Some((0..8).collect()),
            attributes: Some(vec![]),
            sequence_number: 0,
            sequence_number_for_allocation: Some(BTreeMap::new()),
            deleted: false,
            host_affinity: None,
        };
        assert_eq!(b.ip_at(3).to_string(), "10.0.0.11");
        assert_eq!(b.ordinal_of("10.0.0.15".parse().unwrap()), Some(7));
        assert_eq!(b.ordinal_of("10.0.0.16".parse().unwrap()), None);
        assert_eq!(b.affinity_host(), Some("n1"));
    }
}
