// The router's behaviour, written slowly and plainly, for differential tests of the Wasm pipeline.
//
// Design notes.
// - One call, one input packet: `referenceProcess(tables, port, bytes)` returns the verdict, a
//   drop reason (kebab-case names that follow the Wasm drop list, e.g. "spoofed-ip"), and every
//   packet the router would send, with its output port. A dropped packet can still produce
//   output (the ICMP error that reports it).
// - Ports follow assembly/abi.ts: 0 = host (bare IP packets), 1 = underlay (outer IP packets),
//   2.. = pods (Ethernet frames).
// - Where the RFCs leave a choice, the model does what the Linux kernel did in our captures
//   (test/vectors/kernel/PROVENANCE.md): outer IPv4 TOS 0, TTL 64, DF clear; outer IPv6 traffic
//   class 0, flow label 0, hop limit 64; ICMPv4 errors with TOS 0xc0, TTL 64, quoting up to 576
//   bytes; ICMPv6 errors with hop limit 64 quoting up to 1280 bytes.
// - Values that are implementation-defined are made deterministic here and must be masked by a
//   comparison (see `normalizeUnderlay`): the outer UDP source port (a symmetric flow hash into
//   32768..60999), the outer IPv4 ID (0 here), the outer IPv6 flow label (0 here, as the kernel;
//   RFC 6438 §3 recommends a flow hash, which the Wasm sends), and the IP IDs of our ICMP errors
//   (0 here).
// - A packet forwarded to a pod or a peer is a router hop (RFC 1812 §5.3.1): TTL / hop limit is
//   checked and decremented. Delivery to the host port is delivery to the node itself, not a hop:
//   no TTL check or decrement. Packets the router originates (ARP/NDP answers, ICMP errors) are
//   not decremented either.
// - Anti-spoofing: a pod sends only from its MAC and addresses; the underlay accepts tunnel
//   traffic only from known peers, and inner sources only where the route back leads to that peer.
// - Where the RFCs name no order of checks (or no drop reason), the model takes the Wasm's order
//   (docs/ABI.md drop list): e.g. source MAC before destination MAC on pod ports; outer
//   destination, fragment, protocol, peer, then UDP port and checksum on the underlay.
// - Not modelled: ICMP rate limiting (the Wasm code has a token bucket; tests that compare ICMP
//   output must keep under its burst), reassembly (outer fragments are dropped).

import {
  internetChecksum,
  incrementalUpdate16,
  onesComplementSum,
  pseudoHeaderSum4,
  pseudoHeaderSum6,
} from "./checksum.ts";
import {
  EtherType,
  IpProto,
  ParseError,
  build,
  concatBytes,
  formatMac,
  parseArp,
  parseGeneve,
  parseIp4,
  parseIp6,
  parseIpv4,
  parseIpv6,
  parseMac,
  parseUdp,
  parseVxlan,
  formatIp4,
  formatIp6,
  type Layer,
} from "./packet.ts";

// ---- tables -----------------------------------------------------------------------------------

export const PORT_HOST = 0;
export const PORT_UNDERLAY = 1;
export const PORT_POD_BASE = 2;

export interface ModelNode {
  vtepMac: string;
  /** The MAC pods see for their gateway. */
  routerMac: string;
  underlay4?: string;
  underlay6?: string;
  encap: "vxlan" | "geneve";
  /** Tunnel UDP port: default 8472 for VXLAN (the Linux default flannel uses), 6081 for Geneve. */
  port?: number;
  /** Default 1 (flannel's default VNI). */
  vni?: number;
  /**
   * A number is the underlay MTU: pods and host get mtu - 50, tunnels carry inner packets of up
   * to mtu - 50 (IPv4 outer) / mtu - 70 (IPv6 outer). Or give each value.
   */
  mtu: number | { pod: number; host: number; tunnel4: number; tunnel6: number };
  gateway4?: string;
  gateway6?: string;
  /** Outer UDP checksum over IPv4. Default true, as the kernel does by default (IPv6: always). */
  udpChecksum4?: boolean;
  /** Send a zero outer UDP checksum over IPv6 (kernel `udp6zerocsumtx`; RFC 6935). Default false. */
  zeroChecksum6Tx?: boolean;
  /** Accept a zero outer UDP checksum over IPv6 (kernel `udp6zerocsumrx`; RFC 6935). Default false. */
  acceptZeroChecksum6?: boolean;
  /** Outer UDP source port range (kernel: ip_local_port_range). Default 32768..60999. */
  sourcePortRange?: [number, number];
  /**
   * Whether the router's pod-facing side has the EUI-64 link-local address of `routerMac` and
   * answers neighbour solicitations for it. Default true; the router's node config has no such
   * address (modelTablesFromConfig sets false).
   */
  linkLocalGateway?: boolean;
  /**
   * RFC 7348 §5: reserved VXLAN flag bits and fields "MUST be set to zero on transmission and
   * ignored on receipt"; only the I flag matters. Default false: drop anything but exactly the I
   * flag, as the Linux kernel does (vxlan_rcv, knowingly against the RFC) in the captures the
   * model was checked against. The router follows the RFC (modelTablesFromConfig sets true).
   */
  vxlanIgnoreReserved?: boolean;
}
export interface ModelPod {
  name: string;
  port: number;
  mac: string;
  ipv4?: string;
  ipv6?: string;
}
export interface ModelPeer {
  name: string;
  /** The peer's underlay (public) address, IPv4 or IPv6. */
  underlay: string;
  vtepMac: string;
  podCIDRs: string[];
}
export type ModelRouteVia = "host" | "blackhole" | `pod:${string}` | `peer:${string}`;
export interface ModelTables {
  node: ModelNode;
  pods: ModelPod[];
  peers: ModelPeer[];
  /** CIDRs delivered to the host port (node addresses, service CIDR, ...). */
  hostRoutes?: string[];
  /** Further routes, as in the node config. */
  routes?: { dst: string; via: ModelRouteVia }[];
}

export interface ModelOutput {
  port: number;
  bytes: Uint8Array;
  /** For underlay output: the peer it goes to. */
  peer?: string;
}
export interface ModelResult {
  verdict: "deliver" | "forward" | "drop";
  reason?: string;
  outputs: ModelOutput[];
}

/** Every drop reason the model uses. The names follow the Wasm drop list (DROP_X_Y → "x-y"). */
export const MODEL_DROP_REASONS = [
  "unknown-port", "eth-truncated", "eth-not-for-router", "eth-unsupported-type", "spoofed-mac", "spoofed-ip",
  "arp-malformed", "arp-not-for-gateway", "arp-ignored", "not-ip", "ipv4-malformed", "ipv4-bad-checksum",
  "ipv6-malformed", "ipv6-bad-ext-header", "ndp-malformed", "ndp-ignored", "link-local-not-routed",
  "multicast-not-routed", "ttl-exceeded", "no-route", "frag-needed", "packet-too-big", "host-loop", "blackhole",
  "underlay-malformed", "underlay-bad-checksum", "underlay-fragment", "underlay-not-for-us", "unknown-peer",
  "not-tunnel-port", "vxlan-bad-flags", "vni-mismatch", "geneve-malformed", "geneve-critical-option",
  "geneve-not-ethernet", "geneve-oam", "inner-malformed", "inner-bad-dst-mac", "underlay-hairpin",
  "no-underlay-address", "martian-source", "martian-destination",
] as const;
export type ModelDropReason = (typeof MODEL_DROP_REASONS)[number];

// ---- addresses and prefixes --------------------------------------------------------------------

interface Prefix {
  family: 4 | 6;
  bytes: Uint8Array;
  len: number;
}
function parsePrefix(cidr: string): Prefix {
  const [addr, lenStr] = cidr.split("/");
  const family = addr!.includes(":") ? 6 : 4;
  const bytes = family === 4 ? parseIp4(addr!) : parseIp6(addr!);
  const len = lenStr === undefined ? bytes.length * 8 : Number(lenStr);
  return { family, bytes, len };
}
function inPrefix(p: Prefix, family: 4 | 6, addr: Uint8Array): boolean {
  if (p.family !== family) return false;
  for (let bit = 0; bit < p.len; bit++) {
    const mask = 0x80 >> (bit % 8);
    if ((p.bytes[bit >> 3]! & mask) !== (addr[bit >> 3]! & mask)) return false;
  }
  return true;
}
const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

type Target = { kind: "pod"; pod: ModelPod } | { kind: "peer"; peer: ModelPeer } | { kind: "host" } | { kind: "blackhole" };

/** Every route the tables imply, in no particular order. */
function routesOf(t: ModelTables): { p: Prefix; target: Target }[] {
  const routes: { p: Prefix; target: Target }[] = [];
  for (const pod of t.pods) {
    if (pod.ipv4) routes.push({ p: parsePrefix(`${pod.ipv4}/32`), target: { kind: "pod", pod } });
    if (pod.ipv6) routes.push({ p: parsePrefix(`${pod.ipv6}/128`), target: { kind: "pod", pod } });
  }
  for (const peer of t.peers) for (const c of peer.podCIDRs) routes.push({ p: parsePrefix(c), target: { kind: "peer", peer } });
  // The gateways are the node's own addresses (the host answers pings to them).
  if (t.node.gateway4) routes.push({ p: parsePrefix(`${t.node.gateway4}/32`), target: { kind: "host" } });
  if (t.node.gateway6) routes.push({ p: parsePrefix(`${t.node.gateway6}/128`), target: { kind: "host" } });
  for (const c of t.hostRoutes ?? []) routes.push({ p: parsePrefix(c), target: { kind: "host" } });
  for (const r of t.routes ?? []) {
    let target: Target | undefined;
    if (r.via === "host") target = { kind: "host" };
    else if (r.via === "blackhole") target = { kind: "blackhole" };
    else if (r.via.startsWith("pod:")) {
      const pod = t.pods.find((p) => p.name === r.via.slice(4));
      if (pod) target = { kind: "pod", pod };
    } else {
      const peer = t.peers.find((p) => p.name === r.via.slice(5));
      if (peer) target = { kind: "peer", peer };
    }
    if (target) routes.push({ p: parsePrefix(r.dst), target });
  }
  return routes;
}

/**
 * The parsed routes of a tables object, kept while what they derive from is unchanged (a cache
 * only: differential tests run hundreds of thousands of packets over one set of tables).
 */
const routeCache = new WeakMap<ModelTables, { key: string; routes: { p: Prefix; target: Target }[] }>();

/** Longest-prefix match by linear scan over every route the tables imply. */
export function lookupRoute(t: ModelTables, family: 4 | 6, dst: Uint8Array): Target | undefined {
  const key = JSON.stringify([t.pods, t.peers, t.node.gateway4, t.node.gateway6, t.hostRoutes, t.routes]);
  let cached = routeCache.get(t);
  if (!cached || cached.key !== key) {
    cached = { key, routes: routesOf(t) };
    routeCache.set(t, cached);
  }
  let best: { p: Prefix; target: Target } | undefined;
  for (const r of cached.routes) if (inPrefix(r.p, family, dst) && (!best || r.p.len > best.p.len)) best = r;
  return best?.target;
}

function mtus(n: ModelNode) {
  if (typeof n.mtu === "number") return { pod: n.mtu - 50, host: n.mtu - 50, tunnel4: n.mtu - 50, tunnel6: n.mtu - 70 };
  return n.mtu;
}
const tunnelPort = (n: ModelNode) => n.port ?? (n.encap === "geneve" ? 6081 : 8472);
const vniOf = (n: ModelNode) => n.vni ?? 1;
const sportRange = (n: ModelNode): [number, number] => n.sourcePortRange ?? [32768, 60999];

/** RFC 4291 §2.5.1 / RFC 4862 §5.3: fe80::/64 with the modified EUI-64 of a MAC. */
export function linkLocalOf(mac: string): string {
  const m = parseMac(mac);
  const b = new Uint8Array(16);
  b[0] = 0xfe;
  b[1] = 0x80;
  b.set([m[0]! ^ 0x02, m[1]!, m[2]!, 0xff, 0xfe, m[3]!, m[4]!, m[5]!], 8);
  return formatIp6(b);
}

// ---- the flow hash for the outer UDP source port -----------------------------------------------

/**
 * RFC 7348 §5: the source port "SHOULD" be a hash of the inner packet's headers, in the dynamic
 * range. Like the kernel's (PROVENANCE.md), it is symmetric in addresses and ports and, for
 * fragments, covers addresses and protocol only. The exact function is ours (FNV-1a); comparisons
 * must accept any port in the range and check only stability per flow.
 */
export function flowSourcePort(node: ModelNode, innerIp: Uint8Array): number {
  const v = innerIp[0]! >> 4;
  let a: Uint8Array, b: Uint8Array, proto: number, l4: Uint8Array | undefined;
  if (v === 4) {
    const ihl = (innerIp[0]! & 0xf) * 4;
    a = innerIp.subarray(12, 16);
    b = innerIp.subarray(16, 20);
    proto = innerIp[9]!;
    const frag = ((innerIp[6]! << 8) | innerIp[7]!) & 0x3fff;
    l4 = frag === 0 ? innerIp.subarray(ihl) : undefined;
  } else {
    const p = parseIpv6(innerIp);
    a = innerIp.subarray(8, 24);
    b = innerIp.subarray(24, 40);
    proto = p.upperProtocol;
    const fragmented = p.repr.extHeaders.some((e) => e.type === 44);
    l4 = !fragmented && p.upperHeaderPresent ? innerIp.subarray(p.upperOffset) : undefined;
    // RFC 6438 §3 (as the kernel's flow dissector does): a non-zero flow label identifies the
    // flow, in place of the ports; it also keeps fragments and whole datagrams of a flow together.
    if (p.repr.flowLabel !== 0) {
      l4 = undefined;
      proto = (proto << 20) | p.repr.flowLabel;
    }
  }
  let ports = [0, 0];
  if (l4 && l4.length >= 4 && (proto === IpProto.Tcp || proto === IpProto.Udp)) ports = [(l4[0]! << 8) | l4[1]!, (l4[2]! << 8) | l4[3]!];
  // symmetric: order the two endpoints canonically
  const ka = concatBytes(a, Uint8Array.from([ports[0]! >> 8, ports[0]! & 0xff]));
  const kb = concatBytes(b, Uint8Array.from([ports[1]! >> 8, ports[1]! & 0xff]));
  const [lo, hi] = compareBytes(ka, kb) <= 0 ? [ka, kb] : [kb, ka];
  let h = 0x811c9dc5;
  const tail = Uint8Array.of(proto >>> 24, (proto >>> 16) & 0xff, (proto >>> 8) & 0xff, proto & 0xff);
  for (const byte of concatBytes(lo, hi, tail)) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  const [min, max] = sportRange(node);
  return min + (h % (max - min + 1));
}
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

// ---- IPv6 header checks shared by every port -----------------------------------------------------

/** RFC 8200 §3: 40 bytes, version 6, payload length inside the buffer (no jumbograms). */
function ipv6FixedHeaderOk(b: Uint8Array): boolean {
  return b.length >= 40 && b[0]! >> 4 === 6 && 40 + ((b[4]! << 8) | b[5]!) <= b.length;
}

/** Most extension headers walked before the upper-layer header (a bound on work per packet). */
export const MAX_EXT_HEADERS = 8;

/**
 * `parseIpv6` plus a bound on the chain: RFC 8200 §4.1 lets each header occur once (Destination
 * Options twice), so a legitimate chain is short; a router may refuse longer ones (RFC 7112,
 * RFC 8504 §5.3). At most MAX_EXT_HEADERS headers before the upper layer, or before a non-first
 * fragment's header ends the walk as the (MAX_EXT_HEADERS + 1)th.
 */
function parseIpv6Chain(b: Uint8Array): ReturnType<typeof parseIpv6> {
  const p = parseIpv6(b);
  const n = p.repr.extHeaders.length;
  const last = p.repr.extHeaders[n - 1];
  const endsInLaterFragment = last !== undefined && last.type === 44 && last.fragOffset !== 0;
  if (endsInLaterFragment ? n - 1 > MAX_EXT_HEADERS : n > MAX_EXT_HEADERS) throw new ParseError("ipv6", "extension header chain too long");
  return p;
}

// ---- the entry point ------------------------------------------------------------------------

const drop = (reason: ModelDropReason, outputs: ModelOutput[] = []): ModelResult => ({ verdict: "drop", reason, outputs });

export function referenceProcess(tables: ModelTables, port: number, frame: Uint8Array): ModelResult {
  if (port === PORT_HOST) return fromHost(tables, frame);
  if (port === PORT_UNDERLAY) return fromUnderlay(tables, frame);
  const pod = tables.pods.find((p) => p.port === port);
  if (!pod) return drop("unknown-port");
  return fromPod(tables, pod, frame);
}

// ---- from a pod ------------------------------------------------------------------------------

function fromPod(t: ModelTables, pod: ModelPod, frame: Uint8Array): ModelResult {
  if (frame.length < 14) return drop("eth-truncated");
  // Anti-spoofing: a pod may only send from its own MAC (checked before the destination: a
  // spoofed frame is refused whatever it is addressed to).
  if (formatMac(frame, 6) !== pod.mac) return drop("spoofed-mac");
  // Group addresses (the I/G bit: broadcast and every multicast) reach the router too.
  const group = (frame[0]! & 1) !== 0;
  if (!group && formatMac(frame, 0) !== t.node.routerMac) return drop("eth-not-for-router");
  const ethertype = (frame[12]! << 8) | frame[13]!; // 802.1Q tags are an unsupported type here
  const payload = frame.subarray(14);

  if (ethertype === EtherType.Arp) return podArp(t, pod, payload);
  if (ethertype === EtherType.Ipv4) {
    // RFC 1812 §5.3.4: a packet received as a link-layer broadcast or multicast is not forwarded
    // unless its destination is IP multicast, which the router does not route either.
    if (group) return drop("multicast-not-routed");
    let ip;
    try {
      ip = parseIpv4(payload);
    } catch {
      return drop("ipv4-malformed");
    }
    if (internetChecksum(payload, 0, ip.headerLength) !== 0) return drop("ipv4-bad-checksum");
    if (ip.repr.src !== pod.ipv4) return drop("spoofed-ip");
    return route4(t, payload.subarray(0, ip.repr.totalLength), { kind: "pod", pod });
  }
  if (ethertype === EtherType.Ipv6) {
    if (!ipv6FixedHeaderOk(payload)) return drop("ipv6-malformed");
    let p;
    try {
      p = parseIpv6Chain(payload);
    } catch {
      return drop("ipv6-bad-ext-header");
    }
    const pkt = payload.subarray(0, 40 + p.repr.payloadLength!);
    // RFC 6980 §5: neighbour discovery in a fragment is ignored as such (and routed like any packet).
    const fragmented = p.repr.extHeaders.some((e) => e.type === 44);
    const icmpType = p.upperProtocol === IpProto.Icmpv6 && !fragmented && p.payload.length >= 1 ? p.payload[0]! : -1;
    if (icmpType === 135) return podNeighborSolicit(t, pod, pkt, p);
    const src = pkt.subarray(8, 24);
    // Anti-spoofing: only the pod's own address. Link-local and unspecified sources are for
    // on-link protocols: neighbour discovery we do not serve (RS, RA, NA, redirect) is ignored,
    // anything else from them (MLD, ...) is not routable (RFC 4291 §2.5.6).
    if (isLinkLocal6(src) || src.every((x) => x === 0)) return drop(icmpType >= 133 && icmpType <= 137 ? "ndp-ignored" : "link-local-not-routed");
    if (p.repr.src !== pod.ipv6) return drop("spoofed-ip");
    // Only neighbour discovery is served from link-layer broadcast or multicast frames; nothing is
    // routed from them (as RFC 1812 §5.3.4 has it for IPv4; and RFC 4443 §2.4(e.4), (e.5) forbid
    // ICMPv6 errors about them, which routing could cause).
    if (group) return drop("multicast-not-routed");
    return route6(t, pkt, { kind: "pod", pod });
  }
  return drop("eth-unsupported-type");
}

/** RFC 826 with the gateway as the only address we answer for (no proxy ARP). */
function podArp(t: ModelTables, pod: ModelPod, payload: Uint8Array): ModelResult {
  let a;
  try {
    a = parseArp(payload);
  } catch {
    return drop("arp-malformed");
  }
  if (a.senderMac !== pod.mac) return drop("spoofed-mac");
  // The sender IP is the pod's, or 0.0.0.0 for an address probe (RFC 5227 §2.1.1).
  if (a.senderIp !== pod.ipv4 && a.senderIp !== "0.0.0.0") return drop("spoofed-ip");
  if (a.op !== 1) return drop("arp-ignored"); // replies and gratuitous announcements: nothing to learn
  if (!t.node.gateway4 || a.targetIp !== t.node.gateway4) return drop("arp-not-for-gateway");
  // RFC 826: a request for our address is answered, a probe (RFC 5227 §2.1.1, sender 0.0.0.0) too,
  // so that a pod probing the gateway's address learns that it is taken. Linux answers both.
  const reply = build([
    { kind: "eth", dst: a.senderMac, src: t.node.routerMac, ethertype: EtherType.Arp },
    { kind: "arp", op: 2, senderMac: t.node.routerMac, senderIp: t.node.gateway4, targetMac: a.senderMac, targetIp: a.senderIp },
  ]);
  return { verdict: "deliver", outputs: [{ port: pod.port, bytes: reply }] };
}

/** RFC 4861 §4.6: every option has a non-zero length and lies inside the message. */
function ndpOptionsOk(icmp: Uint8Array): boolean {
  for (let off = 24; off < icmp.length; ) {
    if (off + 2 > icmp.length) return false;
    const len = icmp[off + 1]! * 8;
    if (len === 0 || off + len > icmp.length) return false;
    off += len;
  }
  return true;
}

/**
 * RFC 4861: answer a Neighbor Solicitation for one of our addresses (the gateway; its link-local
 * address where the node has one) with a Neighbor Advertisement carrying the router MAC.
 */
function podNeighborSolicit(t: ModelTables, pod: ModelPod, pkt: Uint8Array, p: ReturnType<typeof parseIpv6>): ModelResult {
  const icmp = pkt.subarray(p.upperOffset);
  const srcBytes = pkt.subarray(8, 24);
  // RFC 4861 §7.1.1 validity checks (extension headers are allowed: none of them is a check).
  if (p.repr.hopLimit !== 255 || icmp.length < 24 || icmp[1] !== 0 || icmp[8] === 0xff || !ndpOptionsOk(icmp)) return drop("ndp-malformed");
  const ps = pseudoHeaderSum6(srcBytes, pkt.subarray(24, 40), IpProto.Icmpv6, icmp.length);
  if (onesComplementSum(icmp, 0, icmp.length, ps) !== 0xffff) return drop("ndp-malformed");
  const target = formatIp6(icmp, 8);
  const ours = [t.node.gateway6, t.node.linkLocalGateway === false ? undefined : linkLocalOf(t.node.routerMac)].filter((x): x is string => !!x);
  if (!ours.includes(target)) return drop("ndp-ignored"); // not ours: DAD and resolution of other addresses
  const unspecified = srcBytes.every((x) => x === 0);
  if (unspecified) {
    // DAD for our own address (RFC 4862 §5.4.3): defended. §7.1.1: to a solicited-node address,
    // without a source link-layer address option.
    let hasSllao = false;
    for (let off = 24; off < icmp.length; off += icmp[off + 1]! * 8) if (icmp[off] === 1) hasSllao = true;
    if (hasSllao || !p.repr.dst.startsWith("ff02::1:ff")) return drop("ndp-malformed");
  } else if (p.repr.src !== pod.ipv6 && !isLinkLocal6(srcBytes)) {
    return drop("spoofed-ip");
  }
  // RFC 4861 §7.2.4: to the solicitation's source, or all-nodes when it was unspecified (S clear).
  const dst = unspecified ? "ff02::1" : p.repr.src;
  const flags = 0x80000000 /* R: we are a router */ | (unspecified ? 0 : 0x40000000) /* S */ | 0x20000000; /* O */
  const na = build([
    { kind: "eth", dst: unspecified ? "33:33:00:00:00:01" : pod.mac, src: t.node.routerMac, ethertype: EtherType.Ipv6 },
    { kind: "ipv6", trafficClass: 0, flowLabel: 0, nextHeader: IpProto.Icmpv6, hopLimit: 255, src: target, dst, extHeaders: [] },
    { kind: "icmpv6", type: 136, code: 0, rest: flags, target, options: [{ type: 2, lladdr: t.node.routerMac }] },
  ]);
  return { verdict: "deliver", outputs: [{ port: pod.port, bytes: na }] };
}

const isLinkLocal6 = (a: Uint8Array) => a[0] === 0xfe && (a[1]! & 0xc0) === 0x80;

// ---- from the host ---------------------------------------------------------------------------

function fromHost(t: ModelTables, pkt: Uint8Array): ModelResult {
  if (pkt.length < 1) return drop("not-ip");
  const v = pkt[0]! >> 4;
  if (v === 4) {
    let ip;
    try {
      ip = parseIpv4(pkt);
    } catch {
      return drop("ipv4-malformed");
    }
    if (internetChecksum(pkt, 0, ip.headerLength) !== 0) return drop("ipv4-bad-checksum");
    return route4(t, pkt.subarray(0, ip.repr.totalLength), { kind: "host" });
  }
  if (v === 6) {
    let p;
    try {
      p = parseIpv6Chain(pkt);
    } catch (err) {
      return drop(err instanceof ParseError && /extension|hop-by-hop/.test(err.reason) ? "ipv6-bad-ext-header" : "ipv6-malformed");
    }
    return route6(t, pkt.subarray(0, 40 + p.repr.payloadLength!), { kind: "host" });
  }
  return drop("not-ip");
}

// ---- from the underlay -------------------------------------------------------------------------

function fromUnderlay(t: ModelTables, pkt: Uint8Array): ModelResult {
  const n = t.node;
  if (pkt.length < 1) return drop("underlay-malformed");
  const v = pkt[0]! >> 4;
  let src: string, udpBytes: Uint8Array, family: 4 | 6;
  // Check order (a choice; the RFCs name no drop reasons): the outer IP header, that it is for
  // us, not a fragment, UDP; then the peer; then the UDP header, port and checksum.
  if (v === 4) {
    let ip;
    try {
      ip = parseIpv4(pkt);
    } catch {
      return drop("underlay-malformed");
    }
    if (internetChecksum(pkt, 0, ip.headerLength) !== 0) return drop("underlay-bad-checksum");
    if (!n.underlay4 || ip.repr.dst !== n.underlay4) return drop("underlay-not-for-us");
    if (ip.repr.mf || ip.repr.fragOffset !== 0) return drop("underlay-fragment"); // no reassembly
    if (ip.repr.protocol !== IpProto.Udp) return drop("not-tunnel-port");
    src = ip.repr.src;
    udpBytes = ip.payload;
    family = 4;
  } else if (v === 6) {
    if (!ipv6FixedHeaderOk(pkt)) return drop("underlay-malformed");
    if (!n.underlay6 || formatIp6(pkt, 24) !== n.underlay6) return drop("underlay-not-for-us");
    let p;
    try {
      p = parseIpv6Chain(pkt);
    } catch {
      return drop("underlay-malformed");
    }
    if (p.repr.extHeaders.some((e) => e.type === 44)) return drop("underlay-fragment");
    if (!p.upperHeaderPresent || p.upperProtocol !== IpProto.Udp) return drop("not-tunnel-port");
    src = p.repr.src;
    udpBytes = p.payload;
    family = 6;
  } else {
    return drop("underlay-malformed");
  }
  // Anti-spoofing: only known peers may send us tunnel traffic.
  const peer = t.peers.find((p) => sameAddr(p.underlay, src));
  if (!peer) return drop("unknown-peer");
  let udp;
  try {
    udp = parseUdp(udpBytes);
  } catch {
    return drop("underlay-malformed");
  }
  if (udp.repr.dstPort !== tunnelPort(n)) return drop("not-tunnel-port");
  // RFC 768: the datagram is `length` bytes; bytes after it in the IP payload are not part of it
  // (Linux trims them too, udp_rcv → pskb_trim_rcsum).
  udpBytes = udpBytes.subarray(0, udp.repr.length!);
  const pseudo =
    family === 4
      ? pseudoHeaderSum4(pkt.subarray(12, 16), pkt.subarray(16, 20), IpProto.Udp, udpBytes.length)
      : pseudoHeaderSum6(pkt.subarray(8, 24), pkt.subarray(24, 40), IpProto.Udp, udpBytes.length);
  // RFC 7348 §5: a zero checksum MUST be accepted over IPv4. Over IPv6 a zero checksum is
  // accepted only when configured (RFC 6935/6936; kernel udp6zerocsumrx).
  if (udp.repr.checksum === 0) {
    if (family === 6 && !n.acceptZeroChecksum6) return drop("underlay-bad-checksum");
  } else if (onesComplementSum(udpBytes, 0, udpBytes.length, pseudo) !== 0xffff) {
    return drop("underlay-bad-checksum");
  }

  let innerFrame: Uint8Array;
  const tun = udp.payload;
  if (n.encap === "vxlan") {
    if (tun.length < 8) return drop("underlay-malformed");
    const vx = parseVxlan(tun);
    // RFC 7348 §5: the I flag MUST be set; the reserved bits are ignored on receipt (see
    // `vxlanIgnoreReserved` for the kernel's stricter choice).
    const flagsOk = n.vxlanIgnoreReserved ? (vx.repr.flags & 0x08) !== 0 : vx.repr.flags === 0x08 && vx.repr.reserved1 === 0 && vx.repr.reserved2 === 0;
    if (!flagsOk) return drop("vxlan-bad-flags");
    if (vx.repr.vni !== vniOf(n)) return drop("vni-mismatch");
    innerFrame = vx.payload;
  } else {
    // RFC 8926 §3.4: version 0 only (unknown versions MUST be dropped); the header and its options
    // inside the datagram; OAM frames are control messages, not data; we carry Ethernet only.
    if (tun.length < 8 || tun[0]! >> 6 !== 0 || 8 + (tun[0]! & 0x3f) * 4 > tun.length) return drop("geneve-malformed");
    if (tun[1]! & 0x80) return drop("geneve-oam");
    if (((tun[2]! << 8) | tun[3]!) !== EtherType.TransparentEthernet) return drop("geneve-not-ethernet");
    let g;
    try {
      g = parseGeneve(tun);
    } catch {
      return drop("geneve-malformed");
    }
    // RFC 8926 §3.5.1: an option with the critical bit (type high bit) that the endpoint does not
    // understand MUST cause a drop. We understand none; the C flag announces one.
    if (g.repr.critical || g.repr.options.some((o) => (o.type & 0x80) !== 0)) return drop("geneve-critical-option");
    if (g.repr.vni !== vniOf(n)) return drop("vni-mismatch");
    innerFrame = g.payload;
  }
  // The inner frame: Ethernet to our VTEP MAC carrying IPv4 or IPv6 (nothing else is malformed here).
  if (innerFrame.length < 14) return drop("inner-malformed");
  if (formatMac(innerFrame, 0) !== n.vtepMac) return drop("inner-bad-dst-mac");
  const innerType = (innerFrame[12]! << 8) | innerFrame[13]!;
  const innerIp = innerFrame.subarray(14);
  const from: Source = { kind: "peer", peer };
  if (innerType === EtherType.Ipv4) {
    let ip;
    try {
      ip = parseIpv4(innerIp);
    } catch {
      return drop("inner-malformed");
    }
    if (internetChecksum(innerIp, 0, ip.headerLength) !== 0) return drop("ipv4-bad-checksum");
    if (!peerOwns(t, peer, 4, innerIp.subarray(12, 16))) return drop("spoofed-ip");
    return route4(t, innerIp.subarray(0, ip.repr.totalLength), from);
  }
  if (innerType === EtherType.Ipv6) {
    if (!ipv6FixedHeaderOk(innerIp)) return drop("inner-malformed");
    let p;
    try {
      p = parseIpv6Chain(innerIp);
    } catch {
      return drop("ipv6-bad-ext-header");
    }
    if (!peerOwns(t, peer, 6, innerIp.subarray(8, 24))) return drop("spoofed-ip");
    return route6(t, innerIp.subarray(0, 40 + p.repr.payloadLength!), from);
  }
  return drop("inner-malformed");
}

function sameAddr(a: string, b: string): boolean {
  const fa = a.includes(":") ? parseIp6(a) : parseIp4(a);
  const fb = b.includes(":") ? parseIp6(b) : parseIp4(b);
  return sameBytes(fa, fb);
}

/**
 * Inner-source anti-spoofing: the route back to the inner source must lead to the peer it came
 * from (its pod CIDRs, or any route via it; flannel's host-to-pod traffic uses the peer's `.0`
 * address, inside them).
 */
function peerOwns(t: ModelTables, peer: ModelPeer, family: 4 | 6, addr: Uint8Array): boolean {
  const back = lookupRoute(t, family, addr);
  return back?.kind === "peer" && back.peer.name === peer.name;
}

// ---- routing ---------------------------------------------------------------------------------

type Source = { kind: "pod"; pod: ModelPod } | { kind: "host" } | { kind: "peer"; peer: ModelPeer };

/** 224.0.0.0/4 or the limited broadcast 255.255.255.255. */
function isMulticastOrBroadcast4(a: Uint8Array): boolean {
  return (a[0]! >= 224 && a[0]! <= 239) || (a[0] === 255 && a[1] === 255 && a[2] === 255 && a[3] === 255);
}

/**
 * Where a routed packet leaves, or why it cannot: the checks that depend only on the route and the
 * input port come before TTL and MTU (so a packet that cannot go anywhere earns no ICMP error).
 */
function egress(t: ModelTables, target: Target, from: Source): { mtu: number } | { reason: ModelDropReason } {
  const m = mtus(t.node);
  if (target.kind === "blackhole") return { reason: "blackhole" };
  if (target.kind === "host") return from.kind === "host" ? { reason: "host-loop" } : { mtu: m.host };
  if (target.kind === "pod") return { mtu: m.pod };
  if (from.kind === "peer") return { reason: "underlay-hairpin" }; // no transit between peers
  const family = familyOfPeer(target.peer);
  if (!(family === 4 ? t.node.underlay4 : t.node.underlay6)) return { reason: "no-underlay-address" };
  return { mtu: family === 4 ? m.tunnel4 : m.tunnel6 };
}

/**
 * RFC 1812 §5.2/§5.3: forward an IPv4 packet (header already validated). Delivery to the node
 * itself (the host port) is not a forwarding hop: no TTL check or decrement.
 */
function route4(t: ModelTables, pkt: Uint8Array, from: Source): ModelResult {
  const dst = pkt.subarray(16, 20);
  if (isMulticastOrBroadcast4(dst)) return drop("multicast-not-routed");
  // RFC 1812 §5.3.7: never forward from 0/8, 127/8, 224/4, 240/4, nor to 0/8, 127/8, 240/4.
  const s0 = pkt[12]!, d0 = dst[0]!;
  if (s0 === 0 || s0 === 127 || s0 >= 224) return drop("martian-source");
  if (d0 === 0 || d0 === 127 || d0 >= 240) return drop("martian-destination");
  const target = lookupRoute(t, 4, dst);
  if (!target) return drop("no-route", icmp4Error(t, pkt, 3, 0, 0)); // net unreachable, RFC 1812 §5.2.7.1
  const e = egress(t, target, from);
  if ("reason" in e) return drop(e.reason);
  const hop = target.kind !== "host";
  // RFC 1812 §5.3.1: a router must not forward a packet whose TTL is 0 or becomes 0.
  if (hop && pkt[8]! <= 1) return drop("ttl-exceeded", icmp4Error(t, pkt, 11, 0, 0));
  const df = (pkt[6]! & 0x40) !== 0;
  // RFC 1191 §4 / RFC 1812 §5.2.7.1: DF set → "fragmentation needed" with the next-hop MTU.
  if (pkt.length > e.mtu && df) return drop("frag-needed", icmp4Error(t, pkt, 3, 4, e.mtu));
  const fwd = hop ? decrementTtl4(pkt) : pkt.slice();
  return deliver(t, target, fwd.length > e.mtu ? fragment4(fwd, e.mtu) : [fwd], 4); // RFC 791 §3.2
}

/** RFC 8200 §3 / RFC 4443: forward an IPv6 packet. As for IPv4, the host port is not a hop. */
function route6(t: ModelTables, pkt: Uint8Array, from: Source): ModelResult {
  const dst = pkt.subarray(24, 40);
  if (dst[0] === 0xff) return drop("multicast-not-routed");
  const src = pkt.subarray(8, 24);
  if (isLinkLocal6(dst) || isLinkLocal6(src)) return drop("link-local-not-routed"); // RFC 4291 §2.5.6
  // RFC 4291 §2.5.2, §2.5.3, §2.7: unspecified, loopback and multicast are never routed sources;
  // unspecified and loopback never routed destinations.
  const unspec = (a: Uint8Array) => a.every((x) => x === 0);
  const loop = (a: Uint8Array) => a.subarray(0, 15).every((x) => x === 0) && a[15] === 1;
  if (src[0] === 0xff || unspec(src) || loop(src)) return drop("martian-source");
  if (unspec(dst) || loop(dst)) return drop("martian-destination");
  const target = lookupRoute(t, 6, dst);
  if (!target) return drop("no-route", icmp6Error(t, pkt, 1, 0, 0)); // destination unreachable, no route
  const e = egress(t, target, from);
  if ("reason" in e) return drop(e.reason);
  const hop = target.kind !== "host";
  // RFC 8200 §3 / RFC 4443 §3.3: hop limit exhausted in transit.
  if (hop && pkt[7]! <= 1) return drop("ttl-exceeded", icmp6Error(t, pkt, 3, 0, 0));
  // RFC 8200 §5: routers never fragment; RFC 4443 §3.2: Packet Too Big with the MTU.
  if (pkt.length > e.mtu) return drop("packet-too-big", icmp6Error(t, pkt, 2, 0, e.mtu));
  const fwd = pkt.slice();
  if (hop) fwd[7]! -= 1;
  return deliver(t, target, [fwd], 6);
}

const familyOfPeer = (p: ModelPeer): 4 | 6 => (p.underlay.includes(":") ? 6 : 4);

function deliver(t: ModelTables, target: Target, pieces: Uint8Array[], family: 4 | 6): ModelResult {
  const ethertype = family === 4 ? EtherType.Ipv4 : EtherType.Ipv6;
  if (target.kind === "pod") {
    const outputs = pieces.map((p) => ({
      port: target.pod.port,
      bytes: build([{ kind: "eth", dst: target.pod.mac, src: t.node.routerMac, ethertype }, { kind: "payload", bytes: p }]),
    }));
    return { verdict: "deliver", outputs };
  }
  if (target.kind === "host") return { verdict: "deliver", outputs: pieces.map((p) => ({ port: PORT_HOST, bytes: p })) };
  if (target.kind === "peer") {
    const outputs: ModelOutput[] = [];
    for (const p of pieces) {
      const outer = encapsulate(t.node, target.peer, p);
      if (!outer) return drop("no-underlay-address");
      outputs.push({ port: PORT_UNDERLAY, bytes: outer, peer: target.peer.name });
    }
    return { verdict: "forward", outputs };
  }
  return drop("blackhole");
}

/** TTL - 1 with the RFC 1624 Eqn. 3 checksum update (TTL shares a 16-bit word with protocol). */
export function decrementTtl4(pkt: Uint8Array): Uint8Array {
  const out = pkt.slice();
  const oldWord = (out[8]! << 8) | out[9]!;
  out[8]! -= 1;
  const newWord = (out[8]! << 8) | out[9]!;
  const hc = incrementalUpdate16((out[10]! << 8) | out[11]!, oldWord, newWord);
  out[10] = hc >> 8;
  out[11] = hc & 0xff;
  return out;
}

/**
 * RFC 791 §3.2 ("An Example Fragmentation Procedure"): cut the data into pieces of a multiple of
 * 8 octets that fit `mtu`; options whose copy flag (bit 7 of the type) is set go into every
 * fragment, the others only into the first; MF is set on all but the last, which keeps the
 * original MF; offsets add to the original offset. (RFC 791 §3.1 IHL counts 32-bit words.)
 */
export function fragment4(pkt: Uint8Array, mtu: number): Uint8Array[] {
  const ihl = (pkt[0]! & 0xf) * 4;
  const total = (pkt[2]! << 8) | pkt[3]!;
  const data = pkt.subarray(ihl, total);
  const flagsWord = (pkt[6]! << 8) | pkt[7]!;
  const origMf = (flagsWord & 0x2000) !== 0;
  const origOffset = (flagsWord & 0x1fff) * 8;
  const firstOptions = pkt.subarray(20, ihl);
  const laterOptions = copiedOptions(firstOptions);
  const out: Uint8Array[] = [];
  let done = 0;
  while (done < data.length) {
    const opts = done === 0 ? firstOptions : laterOptions;
    const hl = 20 + opts.length;
    const room = Math.floor((mtu - hl) / 8) * 8;
    if (room <= 0) throw new Error(`MTU ${mtu} too small to fragment`);
    const len = Math.min(room, data.length - done);
    const last = done + len >= data.length;
    const f = new Uint8Array(hl + len);
    f.set(pkt.subarray(0, 20), 0);
    f.set(opts, 20);
    f[0] = 0x40 | (hl / 4);
    f[2] = (hl + len) >> 8;
    f[3] = (hl + len) & 0xff;
    const fo = (origOffset + done) / 8;
    const mf = last ? origMf : true;
    // DF is kept; the first fragment keeps the original header, reserved bit included.
    const w = (flagsWord & (done === 0 ? 0xc000 : 0x4000)) | (mf ? 0x2000 : 0) | fo;
    f[6] = w >> 8;
    f[7] = w & 0xff;
    f[10] = f[11] = 0;
    f.set(data.subarray(done, done + len), hl);
    const c = internetChecksum(f, 0, hl);
    f[10] = c >> 8;
    f[11] = c & 0xff;
    out.push(f);
    done += len;
  }
  return out;
}

/** The options that go into non-first fragments (copy flag set), padded to 4 bytes. */
function copiedOptions(opts: Uint8Array): Uint8Array {
  const kept: number[] = [];
  for (let i = 0; i < opts.length; ) {
    const type = opts[i]!;
    if (type === 0) break; // end of option list
    if (type === 1) {
      i++;
      continue; // NOP: dropped (padding is recomputed)
    }
    const len = opts[i + 1] ?? 0;
    if (len < 2 || i + len > opts.length) break;
    if (type & 0x80) kept.push(...opts.subarray(i, i + len));
    i += len;
  }
  while (kept.length % 4) kept.push(0);
  return Uint8Array.from(kept);
}

// ---- encapsulation -------------------------------------------------------------------------

/**
 * RFC 7348 §5 (VXLAN) / RFC 8926 §3 (Geneve) around one inner IP packet, flannel-compatible:
 * inner Ethernet dst = peer VTEP MAC, src = our VTEP MAC; outer headers as the kernel makes them.
 * Returns undefined when we have no underlay address of the peer's family.
 */
export function encapsulate(n: ModelNode, peer: ModelPeer, innerIp: Uint8Array): Uint8Array | undefined {
  const family = familyOfPeer(peer);
  const local = family === 4 ? n.underlay4 : n.underlay6;
  if (!local) return undefined;
  const ethertype = innerIp[0]! >> 4 === 4 ? EtherType.Ipv4 : EtherType.Ipv6;
  const tunnel: Layer =
    n.encap === "vxlan"
      ? { kind: "vxlan", flags: 0x08, vni: vniOf(n) }
      : { kind: "geneve", version: 0, oam: false, critical: false, protocol: EtherType.TransparentEthernet, vni: vniOf(n), options: [] };
  const udp: Layer = { kind: "udp", srcPort: flowSourcePort(n, innerIp), dstPort: tunnelPort(n) };
  if ((family === 4 && n.udpChecksum4 === false) || (family === 6 && n.zeroChecksum6Tx === true)) udp.checksum = 0;
  const outerIp: Layer =
    family === 4
      ? { kind: "ipv4", tos: 0, id: 0, df: false, mf: false, fragOffset: 0, ttl: 64, protocol: IpProto.Udp, src: local, dst: peer.underlay }
      : { kind: "ipv6", trafficClass: 0, flowLabel: 0, nextHeader: IpProto.Udp, hopLimit: 64, src: local, dst: peer.underlay, extHeaders: [] };
  return build([
    outerIp,
    udp,
    tunnel,
    { kind: "eth", dst: peer.vtepMac, src: n.vtepMac, ethertype },
    { kind: "payload", bytes: innerIp },
  ]);
}

// ---- ICMP errors ---------------------------------------------------------------------------

/**
 * RFC 792 + RFC 1812 §4.3.2: an ICMPv4 error about `orig` (as received), from the pods' gateway,
 * routed back like any packet (to a pod, the host or over the tunnel). Not sent (RFC 1812
 * §4.3.2.7) about ICMP errors, non-first fragments, or packets from non-unicast sources.
 */
export function icmp4Error(t: ModelTables, orig: Uint8Array, type: number, code: number, mtu: number): ModelOutput[] {
  if (!t.node.gateway4) return [];
  const ihl = (orig[0]! & 0xf) * 4;
  const fragOffset = ((orig[6]! << 8) | orig[7]!) & 0x1fff;
  if (fragOffset !== 0) return [];
  const src = orig.subarray(12, 16);
  // A source that is not a single host: all zeros, loopback, multicast, broadcast, class E.
  if (src.every((x) => x === 0) || src[0] === 127 || src[0]! >= 224) return [];
  if (isMulticastOrBroadcast4(orig.subarray(16, 20))) return [];
  // No error about an ICMP error (RFC 1122 §3.2.2: destination unreachable, source quench,
  // redirect, time exceeded, parameter problem); other types, unknown ones included, are not errors.
  if (orig[9] === IpProto.Icmp && orig.length > ihl && [3, 4, 5, 11, 12].includes(orig[ihl]!)) return [];
  // RFC 1812 §4.3.2.3: as much of the original as fits a 576-byte datagram (at least header + 8).
  const quote = orig.subarray(0, Math.min(orig.length, 576 - 20 - 8));
  const pkt = build([
    { kind: "ipv4", tos: 0xc0, id: 0, df: false, mf: false, fragOffset: 0, ttl: 64, protocol: IpProto.Icmp, src: t.node.gateway4, dst: formatIp4(src) },
    { kind: "icmp", type, code, rest: type === 3 && code === 4 ? mtu & 0xffff : 0 }, // RFC 1191 §4: MTU in the low 16 bits
    { kind: "payload", bytes: quote },
  ]);
  return sendLocal(t, pkt, 4);
}

/**
 * RFC 4443 §2.4: an ICMPv6 error from the pods' gateway, quoting as much of the original as fits
 * the IPv6 minimum MTU (1280). Not sent about ICMPv6 errors (§2.4(e.1)), to or from multicast
 * (except Packet Too Big, §2.4(e.2/3)), or from the unspecified address.
 */
export function icmp6Error(t: ModelTables, orig: Uint8Array, type: number, code: number, rest: number): ModelOutput[] {
  if (!t.node.gateway6) return [];
  const src = orig.subarray(8, 24);
  // §2.4(e.6): a source that does not identify a single node; link-local ones are never routed to.
  if (src[0] === 0xff || src.every((b) => b === 0) || isLinkLocal6(src)) return [];
  if (orig[24] === 0xff && type !== 2) return [];
  try {
    const p = parseIpv6(orig);
    if (p.upperProtocol === IpProto.Icmpv6 && p.upperHeaderPresent && p.payload.length > 0 && p.payload[0]! < 128) return [];
  } catch {
    /* quote it anyway */
  }
  const quote = orig.subarray(0, Math.min(orig.length, 1280 - 40 - 8));
  const pkt = build([
    { kind: "ipv6", trafficClass: 0, flowLabel: 0, nextHeader: IpProto.Icmpv6, hopLimit: 64, src: t.node.gateway6, dst: formatIp6(src), extHeaders: [] },
    { kind: "icmpv6", type, code, rest },
    { kind: "payload", bytes: quote },
  ]);
  return sendLocal(t, pkt, 6);
}

/** Routes a packet the router itself originated: no TTL decrement, no further ICMP. */
function sendLocal(t: ModelTables, pkt: Uint8Array, family: 4 | 6): ModelOutput[] {
  const dst = family === 4 ? pkt.subarray(16, 20) : pkt.subarray(24, 40);
  const target = lookupRoute(t, family, dst);
  if (!target || target.kind === "blackhole") return [];
  const m = mtus(t.node);
  const mtu = target.kind === "pod" ? m.pod : target.kind === "host" ? m.host : familyOfPeer(target.peer) === 4 ? m.tunnel4 : m.tunnel6;
  // An ICMPv4 error is at most 576 bytes, never over an MTU; ICMPv6 errors (up to 1280 bytes)
  // over a smaller MTU (a misconfiguration for IPv6, RFC 8200 §5) are not sent.
  if (pkt.length > mtu) return [];
  return deliver(t, target, [pkt], family).outputs;
}

// ---- comparison helpers for differential tests ------------------------------------------------

/**
 * Validates the implementation-defined parts of an underlay packet and blanks them, so two
 * encapsulations of the same inner packet compare equal: the outer IPv4 ID and header checksum,
 * the outer IPv6 flow label (0 or a flow hash, RFC 6437 §3 / RFC 6438 §3), the UDP source port
 * (must lie in `range`) and the UDP checksum (must be valid, or zero where allowed). Throws with a
 * reason when a check fails.
 */
export function normalizeUnderlay(outer: Uint8Array, range: [number, number] = [32768, 60999]): Uint8Array {
  const b = outer.slice();
  const v = b[0]! >> 4;
  const l4 = v === 4 ? (b[0]! & 0xf) * 4 : 40;
  if (v === 4) {
    if (internetChecksum(b, 0, l4) !== 0) throw new Error("outer IPv4 header checksum invalid");
    b[4] = b[5] = 0;
    b[10] = b[11] = 0;
  }
  const udpLen = b.length - l4;
  const sum = v === 4 ? pseudoHeaderSum4(b.subarray(12, 16), b.subarray(16, 20), 17, udpLen) : pseudoHeaderSum6(b.subarray(8, 24), b.subarray(24, 40), 17, udpLen);
  const csum = (b[l4 + 6]! << 8) | b[l4 + 7]!;
  if (csum !== 0 && onesComplementSum(b, l4, udpLen, sum) !== 0xffff) throw new Error("outer UDP checksum invalid");
  const sport = (b[l4]! << 8) | b[l4 + 1]!;
  if (sport < range[0] || sport > range[1]) throw new Error(`outer UDP source port ${sport} outside ${range[0]}..${range[1]}`);
  b[l4] = b[l4 + 1] = 0;
  b[l4 + 6] = b[l4 + 7] = 0;
  if (v === 6) {
    b[1]! &= 0xf0; // flow label
    b[2] = b[3] = 0;
  }
  return b;
}

/** The outer UDP source port of an underlay packet. */
export function underlaySourcePort(outer: Uint8Array): number {
  const l4 = outer[0]! >> 4 === 4 ? (outer[0]! & 0xf) * 4 : 40;
  return (outer[l4]! << 8) | outer[l4 + 1]!;
}

export { formatMac };
