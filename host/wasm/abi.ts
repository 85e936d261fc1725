// Mirror of assembly/abi.ts for the host. The Wasm module reports ABI_VERSION, the number of
// drop reasons and events at load, and Dataplane refuses a module that disagrees.

export const ABI_VERSION = 3;
export const BATCH_MAX = 256;

export const PORT_HOST = 0;
export const PORT_UNDERLAY = 1;
export const PORT_POD_BASE = 2;
export const MIN_HEADROOM = 192;

export const RX_FLAG_CSUM_VERIFIED = 1;
export const RESULT_SIZE = 8;
export const TX_RUN_SIZE = 8;
export const NO_PEER = 0xffff;

export const VERDICT_DROP = 0;
export const VERDICT_DELIVER = 1;
export const VERDICT_FORWARD = 2;
export const VERDICT_NAMES = ["drop", "deliver", "forward"] as const;
export type VerdictName = (typeof VERDICT_NAMES)[number];

export const TARGET_KIND_SHIFT = 28;
export const TARGET_POD = 1;
export const TARGET_PEER = 2;
export const TARGET_HOST = 3;
export const TARGET_BLACKHOLE = 4;

/** Drop reasons by number: index = the reason code the module writes. */
export const DROP_REASONS = [
  "None", "BadDescriptor", "UnknownPort", "EthTruncated", "EthNotForRouter", "EthUnsupportedType",
  "SpoofedMac", "SpoofedIp", "ArpMalformed", "ArpNotForGateway", "ArpIgnored", "NotIp",
  "Ipv4Malformed", "Ipv4BadChecksum", "Ipv6Malformed", "Ipv6BadExtHeader", "NdpMalformed",
  "NdpIgnored", "LinkLocalNotRouted", "MulticastNotRouted", "TtlExceeded", "NoRoute", "FragNeeded",
  "PacketTooBig", "FragmentPoolExhausted", "HostLoop", "Blackhole", "PodDetached", "PeerDown",
  "UnderlayMalformed", "UnderlayBadChecksum", "UnderlayFragment", "UnderlayNotForUs", "UnknownPeer",
  "NotTunnelPort", "VxlanBadFlags", "VniMismatch", "GeneveMalformed", "GeneveCriticalOption",
  "GeneveNotEthernet", "GeneveOam", "InnerMalformed", "InnerBadDstMac", "UnderlayHairpin",
  "NoUnderlayAddress", "MartianSource", "MartianDestination",
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export const EVENTS = [
  "arpReplies", "ndpAdverts", "icmpErrorsSent", "icmpRateLimited", "icmpSuppressed", "fragmentsSent",
  "batches", "packets", "icmpUndeliverable",
] as const;
export type EventName = (typeof EVENTS)[number];

/**
 * Offload counters (assembly/offload/reasons.ts, in this order): first the reasons a vnet-headed
 * input is refused (index 0 = OK, never counted), then what the offload calls produced.
 */
export const OFFLOAD_REFUSALS = [
  "Ok", "BadDescriptor", "VnetTruncated", "VnetBadFlags", "GsoUnsupported", "VnetBadHdrLen", "VnetBadCsum",
  "VnetBadGsoSize", "GsoProtoMismatch", "IpMalformed", "IpFragment", "Ipv6ExtUnsupported", "TcpMalformed",
  "TooManySegments", "OutputTooSmall", "UdpMalformed",
] as const;
export const OFFLOAD_EVENTS = [
  "split_gso", "split_plain", "split_segments", "csum_completed", "gro_in", "gro_super", "gro_merged",
  "gro_passed", "gro_bad_csum", "split_uso",
] as const;

export const CFG = {
  FLAGS: 0, TUNNEL_PORT: 4, VNI: 8, POD_MTU: 12, HOST_MTU: 14, TUNNEL_MTU4: 16, TUNNEL_MTU6: 18,
  VTEP_MAC: 20, ROUTER_MAC: 28, UNDERLAY4: 36, UNDERLAY6: 40, GATEWAY4: 56, GATEWAY6: 60,
  SPORT_MIN: 76, SPORT_MAX: 78, ICMP_RATE: 80, ICMP_BURST: 84, SIZE: 88,
} as const;
export const CFGF = { GENEVE: 1, UDP_CSUM4: 2, HAS_UNDERLAY4: 4, HAS_UNDERLAY6: 8, HAS_GATEWAY4: 16, HAS_GATEWAY6: 32 } as const;

export const POD = { MAC: 0, FLAGS: 8, IPV4: 12, IPV6: 16, SIZE: 32, HAS_IPV4: 2, HAS_IPV6: 4 } as const;
export const PEER = { MAC: 0, FLAGS: 8, ADDR: 12, SIZE: 32, IPV6: 2 } as const;

export const LAYOUT = {
  RX_OFFSETS: 0, RESULTS: 1, TX_RAW_OFFSETS: 2, SLOTS: 3, GEN_SLOTS: 4, DROP_COUNTERS: 5, EVENT_COUNTERS: 6,
  PORT_COUNTERS: 7, PEER_COUNTERS: 8, SCRATCH: 9, SLOT_SIZE: 10, HEADROOM: 11, GEN_SLOT_COUNT: 12,
  PORT_COUNT: 13, MAX_PEERS: 14, TX_CAPACITY: 15, MEMORY_BYTES: 16,
  RX_LENGTHS: 17, RX_PORTS: 18, RX_FLAGS: 19, TX_OFFSETS: 20, TX_LENGTHS: 21, TX_RUNS: 22,
  TX_RAW_LENGTHS: 23, TX_RAW_PORTS: 24, TX_RAW_PEERS: 25, TX_RAW_INPUTS: 26,
} as const;

export const ERRORS: Record<number, string> = {
  [-1]: "bad argument", [-2]: "table full", [-3]: "bad value", [-4]: "not found", [-5]: "not initialized", [-6]: "bad layout",
};
