// The ABI between the Wasm data plane and its host. Everything the host must agree on lives here
// and in docs/ABI.md; host/wasm/abi.ts mirrors it and checks ABI_VERSION at load.

/** Bumped on every incompatible change of layout, calls or numbering. */
export const ABI_VERSION: i32 = 3;

/** Packets per `process(n)` call, at most. */
export const BATCH_MAX: i32 = 256;

// ---- Ports ---------------------------------------------------------------------------------
/** The host port: IP packets (no link header) from/to a TUN in the node's namespace. */
export const PORT_HOST: u16 = 0;
/** The underlay: outer IP packets (IPv4 or IPv6, UDP, VXLAN/Geneve), no link header. */
export const PORT_UNDERLAY: u16 = 1;
/** Pod ports: Ethernet frames from/to one pod's TAP each. Port = PORT_POD_BASE + pod index. */
export const PORT_POD_BASE: u16 = 2;

/** Bytes before the packet data that every slot keeps free for prepended headers, at least. */
export const MIN_HEADROOM: i32 = 192;

// ---- Records the host writes/reads (layouts in docs/ABI.md) -------------------------------
/**
 * RX descriptors, one per input packet, as four parallel arrays of BATCH_MAX entries (so that
 * native I/O can write lengths straight into Wasm memory and the host fills ports with one call):
 * offsets u32[] (absolute byte offset of the packet), lengths u32[], ports u16[], flags u16[].
 */
export const RX_FLAG_CSUM_VERIFIED: u16 = 1;

/** Result record, one per input packet: verdict u8 | reason u8 | outPort u16 | peer u16 | txCount u16. */
export const RESULT_SIZE: i32 = 8;
export const RES_VERDICT: i32 = 0;
export const RES_REASON: i32 = 1;
export const RES_PORT: i32 = 2;
export const RES_PEER: i32 = 4;
export const RES_TX_COUNT: i32 = 6;

/**
 * The TX list, one entry per packet to send in generation order, as parallel arrays of
 * txCapacity entries: offsets u32[], lengths u32[], ports u16[], peers u16[], input indexes u16[].
 */

/**
 * The TX list again, grouped by output port (stable: per-port order = generation order), as
 * parallel arrays txOffsets u32[] / txLengths u32[], and a run list of (port u16, reserved u16,
 * start u16, count u16) per output port, so the host hands each port one batch with no per-packet
 * work. `txRunCount()` tells how many runs the last batch produced.
 */
export const TX_RUN_SIZE: i32 = 8;

/** Value of the peer field when there is no peer. */
export const NO_PEER: u16 = 0xffff;

// ---- Verdicts ------------------------------------------------------------------------------
export const VERDICT_DROP: u8 = 0;
/** Delivered to a local pod or the host port (or answered locally, e.g. ARP). */
export const VERDICT_DELIVER: u8 = 1;
/** Forwarded to a peer node over the underlay. */
export const VERDICT_FORWARD: u8 = 2;

// ---- Route targets (the u32 value stored in the LPM tables) ---------------------------------
export const TARGET_KIND_SHIFT: u32 = 28;
export const TARGET_INDEX_MASK: u32 = 0x0fffffff;
export const TARGET_POD: u32 = 1;       // index = pod port
export const TARGET_PEER: u32 = 2;      // index = peer index
export const TARGET_HOST: u32 = 3;      // the node itself: deliver on the host port
export const TARGET_BLACKHOLE: u32 = 4; // drop silently (counted)

// ---- Drop reasons: exactly one per dropped packet. Keep in sync with host/wasm/abi.ts. --------
export const DROP_NONE: u8 = 0;
export const DROP_BAD_DESCRIPTOR: u8 = 1;
export const DROP_UNKNOWN_PORT: u8 = 2;
export const DROP_ETH_TRUNCATED: u8 = 3;
export const DROP_ETH_NOT_FOR_ROUTER: u8 = 4;
export const DROP_ETH_UNSUPPORTED_TYPE: u8 = 5;
export const DROP_SPOOFED_MAC: u8 = 6;
export const DROP_SPOOFED_IP: u8 = 7;
export const DROP_ARP_MALFORMED: u8 = 8;
export const DROP_ARP_NOT_FOR_GATEWAY: u8 = 9;
export const DROP_ARP_IGNORED: u8 = 10;
export const DROP_NOT_IP: u8 = 11;
export const DROP_IPV4_MALFORMED: u8 = 12;
export const DROP_IPV4_BAD_CHECKSUM: u8 = 13;
export const DROP_IPV6_MALFORMED: u8 = 14;
export const DROP_IPV6_BAD_EXT_HEADER: u8 = 15;
export const DROP_NDP_MALFORMED: u8 = 16;
export const DROP_NDP_IGNORED: u8 = 17;
export const DROP_LINK_LOCAL_NOT_ROUTED: u8 = 18;
export const DROP_MULTICAST_NOT_ROUTED: u8 = 19;
export const DROP_TTL_EXCEEDED: u8 = 20;
export const DROP_NO_ROUTE: u8 = 21;
export const DROP_FRAG_NEEDED: u8 = 22;
export const DROP_PACKET_TOO_BIG: u8 = 23;
export const DROP_FRAGMENT_POOL_EXHAUSTED: u8 = 24;
export const DROP_HOST_LOOP: u8 = 25;
export const DROP_BLACKHOLE: u8 = 26;
export const DROP_POD_DETACHED: u8 = 27;
export const DROP_PEER_DOWN: u8 = 28;
export const DROP_UNDERLAY_MALFORMED: u8 = 29;
export const DROP_UNDERLAY_BAD_CHECKSUM: u8 = 30;
export const DROP_UNDERLAY_FRAGMENT: u8 = 31;
export const DROP_UNDERLAY_NOT_FOR_US: u8 = 32;
export const DROP_UNKNOWN_PEER: u8 = 33;
export const DROP_NOT_TUNNEL_PORT: u8 = 34;
export const DROP_VXLAN_BAD_FLAGS: u8 = 35;
export const DROP_VNI_MISMATCH: u8 = 36;
export const DROP_GENEVE_MALFORMED: u8 = 37;
export const DROP_GENEVE_CRITICAL_OPTION: u8 = 38;
export const DROP_GENEVE_NOT_ETHERNET: u8 = 39;
export const DROP_GENEVE_OAM: u8 = 40;
export const DROP_INNER_MALFORMED: u8 = 41;
export const DROP_INNER_BAD_DST_MAC: u8 = 42;
export const DROP_UNDERLAY_HAIRPIN: u8 = 43;
export const DROP_NO_UNDERLAY_ADDRESS: u8 = 44;
export const DROP_MARTIAN_SOURCE: u8 = 45;
export const DROP_MARTIAN_DESTINATION: u8 = 46;
export const DROP_REASON_COUNT: i32 = 47;

// ---- Event counters (not drops) -------------------------------------------------------------
export const EV_ARP_REPLIES: i32 = 0;
export const EV_NDP_ADVERTS: i32 = 1;
export const EV_ICMP_ERRORS_SENT: i32 = 2;
export const EV_ICMP_RATE_LIMITED: i32 = 3;
export const EV_ICMP_SUPPRESSED: i32 = 4;   // not sent by RFC 1812 §4.3.2.7 rules (about an error, a later fragment, ...)
export const EV_FRAGMENTS_SENT: i32 = 5;
export const EV_BATCHES: i32 = 6;
export const EV_PACKETS: i32 = 7;
export const EV_ICMP_UNDELIVERABLE: i32 = 8; // our own ICMP error had no route
export const EVENT_COUNT: i32 = 9;

// ---- Per-port and per-peer counters: 4 x u64 each --------------------------------------------
export const PC_RX_PACKETS: i32 = 0;
export const PC_RX_BYTES: i32 = 1;
export const PC_TX_PACKETS: i32 = 2;
export const PC_TX_BYTES: i32 = 3;
export const PC_STRIDE: i32 = 4;

// ---- Scratch records for table operations (host writes them, then calls the op) -----------
// config (configSet): see docs/ABI.md for the field list
export const CFG_FLAGS: i32 = 0;         // u32, CFGF_*
export const CFG_TUNNEL_PORT: i32 = 4;   // u16, host order
export const CFG_VNI: i32 = 8;           // u32, host order
export const CFG_POD_MTU: i32 = 12;      // u16: largest IP packet sent to a pod
export const CFG_HOST_MTU: i32 = 14;     // u16: largest IP packet sent on the host port
export const CFG_TUNNEL_MTU4: i32 = 16;  // u16: largest inner IP packet over an IPv4 underlay
export const CFG_TUNNEL_MTU6: i32 = 18;  // u16: largest inner IP packet over an IPv6 underlay
export const CFG_VTEP_MAC: i32 = 20;     // 6 bytes
export const CFG_ROUTER_MAC: i32 = 28;   // 6 bytes: the gateway MAC pods see
export const CFG_UNDERLAY4: i32 = 36;    // 4 bytes, network order
export const CFG_UNDERLAY6: i32 = 40;    // 16 bytes
export const CFG_GATEWAY4: i32 = 56;     // 4 bytes: pods' gateway, source of our ICMPv4
export const CFG_GATEWAY6: i32 = 60;     // 16 bytes: pods' gateway, source of our ICMPv6
export const CFG_SPORT_MIN: i32 = 76;    // u16: outer UDP source port range (Linux: ip_local_port_range)
export const CFG_SPORT_MAX: i32 = 78;    // u16
export const CFG_ICMP_RATE: i32 = 80;    // u32: ICMP errors per second (token refill)
export const CFG_ICMP_BURST: i32 = 84;   // u32: bucket size
export const CFG_SIZE: i32 = 88;

export const CFGF_GENEVE: u32 = 1;       // Geneve instead of VXLAN
export const CFGF_UDP_CSUM4: u32 = 2;    // compute the outer UDP checksum over IPv4 (else zero)
export const CFGF_HAS_UNDERLAY4: u32 = 4;
export const CFGF_HAS_UNDERLAY6: u32 = 8;
export const CFGF_HAS_GATEWAY4: u32 = 16;
export const CFGF_HAS_GATEWAY6: u32 = 32;

// pod (podSet): mac[6] @0, flags u32 @8 (POD_HAS_*), ipv4 @12 (network order), ipv6[16] @16
export const POD_MAC: i32 = 0;
export const POD_FLAGS: i32 = 8;
export const POD_IPV4: i32 = 12;
export const POD_IPV6: i32 = 16;
export const POD_RECORD_SIZE: i32 = 32;
export const POD_ATTACHED: u32 = 1;
export const POD_HAS_IPV4: u32 = 2;
export const POD_HAS_IPV6: u32 = 4;

// peer (peerSet): vtep mac[6] @0, flags u32 @8 (PEER_*), underlay address[16] @12 (IPv4 in the first 4)
export const PEER_MAC: i32 = 0;
export const PEER_FLAGS: i32 = 8;
export const PEER_ADDR: i32 = 12;
export const PEER_RECORD_SIZE: i32 = 32;
export const PEER_ACTIVE: u32 = 1;
export const PEER_IPV6: u32 = 2;

// route (routeSet/routeDel): prefix bytes (network order) @0 of the scratch area

// ---- Errors of table operations (negative return values) ----------------------------------
export const ERR_BAD_ARGUMENT: i32 = -1;
export const ERR_TABLE_FULL: i32 = -2;
export const ERR_NOT_FOUND: i32 = -4;
export const ERR_NOT_INITIALIZED: i32 = -5;
export const ERR_BAD_LAYOUT: i32 = -6;
