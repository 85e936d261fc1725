// The data plane's memory regions and configuration, set once by `init` and `configSet`.
// All regions are carved with heap.alloc during init; nothing is allocated afterwards, so
// memory never grows after init and host views never detach.

import {
  BATCH_MAX, RESULT_SIZE, TX_RUN_SIZE, DROP_REASON_COUNT, EVENT_COUNT, PC_STRIDE,
  PORT_POD_BASE, POD_RECORD_SIZE, PEER_RECORD_SIZE, CFG_SIZE, MIN_HEADROOM,
  CFG_FLAGS, CFG_TUNNEL_PORT, CFG_VNI, CFG_POD_MTU, CFG_HOST_MTU, CFG_TUNNEL_MTU4, CFG_TUNNEL_MTU6,
  CFG_SPORT_MIN, CFG_SPORT_MAX, CFG_ICMP_RATE, CFG_ICMP_BURST, CFG_UNDERLAY4, CFG_GATEWAY4,
  CFG_VTEP_MAC, CFG_ROUTER_MAC, CFG_UNDERLAY6, CFG_GATEWAY6, CFGF_HAS_UNDERLAY4, CFGF_HAS_UNDERLAY6,
} from "./abi";

export let initialized = false;

export let slotSize: i32 = 0;
export let slotShift: i32 = 0;
export let headroom: i32 = 0;
export let genSlotCount: i32 = 0;
export let maxPods: i32 = 0;
export let maxPeers: i32 = 0;
export let portCount: i32 = 0;
export let txCapacity: i32 = 0;

export let rxOffsetsBase: usize = 0;
export let rxLengthsBase: usize = 0;
export let rxPortsBase: usize = 0;
export let rxFlagsBase: usize = 0;
export let txOffsetsBase: usize = 0;
export let txLengthsBase: usize = 0;
export let txRunsBase: usize = 0;
export let txPortCountBase: usize = 0;
export let txPortPosBase: usize = 0;
export let resultBase: usize = 0;
export let txRawOffsetsBase: usize = 0;
export let txRawLengthsBase: usize = 0;
export let txRawPortsBase: usize = 0;
export let txRawPeersBase: usize = 0;
export let txRawInputsBase: usize = 0;
export let slotsBase: usize = 0;
export let genSlotsBase: usize = 0;
export let dropCountersBase: usize = 0;
export let eventCountersBase: usize = 0;
export let portCountersBase: usize = 0;
export let peerCountersBase: usize = 0;
export let podTableBase: usize = 0;
export let peerTableBase: usize = 0;
/** Per peer, the precomputed outer headers (stage/encap.ts): PEER_TEMPLATE_SIZE bytes each. */
export let peerTemplateBase: usize = 0;
export const PEER_TEMPLATE_SIZE: i32 = 96;
export let scratchBase: usize = 0;
export let configBase: usize = 0;
export const SCRATCH_SIZE: i32 = 4096;

// ---- configuration, copied out of the config record by configSet ---------------------------
export let cfgFlags: u32 = 0;
export let cfgTunnelPortLe: u16 = 0;  // network order as loaded, for direct compares
export let cfgTunnelPort: u16 = 0;
export let cfgVni: u32 = 0;
export let cfgPodMtu: i32 = 0;
export let cfgHostMtu: i32 = 0;
export let cfgTunnelMtu4: i32 = 0;
export let cfgTunnelMtu6: i32 = 0;
export let cfgSportMin: u32 = 0;
export let cfgSportSpan: u32 = 0;
export let cfgIcmpRate: u32 = 0;
export let cfgIcmpBurst: u32 = 0;
export let cfgUnderlay4: u32 = 0;     // network order as loaded
export let cfgGateway4: u32 = 0;
/** Pointers into the config record for the byte-array fields. */
export let cfgVtepMac: usize = 0;
export let cfgRouterMac: usize = 0;
export let cfgUnderlay6: usize = 0;
export let cfgGateway6: usize = 0;
export let configured = false;

// ---- per-batch state ----------------------------------------------------------------------
export let txCount: i32 = 0;
export let genUsed: i32 = 0;
export let nowMs: u32 = 0;
export let ipv4Id: u32 = 0;

@inline function alignUp(x: usize, a: usize): usize { return (x + a - 1) & ~(a - 1); }

export function carve(bytes: i32, align: usize): usize {
  const p = alignUp(heap.alloc(<usize>bytes + align), align);
  memory.fill(p, 0, <usize>bytes);
  return p;
}

/**
 * Sizes every region. `slotSizeLog2` in 11..16 (2 KiB .. 64 KiB slots); `headroomBytes` at least
 * MIN_HEADROOM and below the slot size minus 1500; returns false on bad arguments.
 */
export function initState(slotSizeLog2: i32, headroomBytes: i32, genSlots: i32, pods: i32, peers: i32): bool {
  if (initialized) return false;
  if (slotSizeLog2 < 11 || slotSizeLog2 > 16) return false;
  const ss = 1 << slotSizeLog2;
  if (headroomBytes < MIN_HEADROOM || headroomBytes > ss - 1536) return false;
  if (genSlots < 0 || genSlots > 4096 || pods < 1 || pods > 65000 || peers < 1 || peers > 65000) return false;
  slotShift = slotSizeLog2;
  slotSize = ss;
  headroom = headroomBytes;
  genSlotCount = genSlots;
  maxPods = pods;
  maxPeers = peers;
  portCount = <i32>PORT_POD_BASE + pods;
  txCapacity = BATCH_MAX + genSlots;

  rxOffsetsBase = carve(BATCH_MAX * 4, 64);
  rxLengthsBase = carve(BATCH_MAX * 4, 64);
  rxPortsBase = carve(BATCH_MAX * 2, 64);
  rxFlagsBase = carve(BATCH_MAX * 2, 64);
  resultBase = carve(BATCH_MAX * RESULT_SIZE, 64);
  txRawOffsetsBase = carve(txCapacity * 4, 64);
  txRawLengthsBase = carve(txCapacity * 4, 64);
  txRawPortsBase = carve(txCapacity * 2, 64);
  txRawPeersBase = carve(txCapacity * 2, 64);
  txRawInputsBase = carve(txCapacity * 2, 64);
  txOffsetsBase = carve(txCapacity * 4, 64);
  txLengthsBase = carve(txCapacity * 4, 64);
  txRunsBase = carve(txCapacity * TX_RUN_SIZE, 64);
  txPortCountBase = carve(portCount * 2, 64);
  txPortPosBase = carve(portCount * 2, 64);
  slotsBase = carve(BATCH_MAX * ss, 4096);
  genSlotsBase = genSlots > 0 ? carve(genSlots * ss, 4096) : 0;
  dropCountersBase = carve(DROP_REASON_COUNT * 8, 64);
  eventCountersBase = carve(EVENT_COUNT * 8, 64);
  portCountersBase = carve(portCount * PC_STRIDE * 8, 64);
  peerCountersBase = carve(peers * PC_STRIDE * 8, 64);
  podTableBase = carve(pods * POD_RECORD_SIZE, 64);
  peerTableBase = carve(peers * PEER_RECORD_SIZE, 64);
  peerTemplateBase = carve(peers * PEER_TEMPLATE_SIZE, 64);
  scratchBase = carve(SCRATCH_SIZE, 64);
  configBase = carve(CFG_SIZE, 64);
  initialized = true;
  return true;
}

@inline export function slotStart(i: i32): usize { return slotsBase + (<usize>i << <usize>slotShift); }
@inline export function genSlotStart(i: i32): usize { return genSlotsBase + (<usize>i << <usize>slotShift); }

@inline export function countDrop(reason: u8): void {
  const p = dropCountersBase + (<usize>reason << 3);
  store<u64>(p, load<u64>(p) + 1);
}
@inline export function countEvent(ev: i32): void {
  const p = eventCountersBase + (<usize>ev << 3);
  store<u64>(p, load<u64>(p) + 1);
}
@inline export function countEventBy(ev: i32, n: i32): void {
  const p = eventCountersBase + (<usize>ev << 3);
  store<u64>(p, load<u64>(p) + <u64>n);
}
@inline export function countPortBy(port: i32, which: i32, packets: i32, bytes: i32): void {
  const p = portCountersBase + (<usize>(port * 4 + which) << 3);
  store<u64>(p, load<u64>(p) + <u64>packets);
  store<u64>(p, load<u64>(p, 8) + <u64>bytes, 8);
}
@inline export function countPeer(peer: i32, which: i32, bytes: i32): void {
  const p = peerCountersBase + (<usize>(peer * 4 + which) << 3);
  store<u64>(p, load<u64>(p) + 1);
  store<u64>(p, load<u64>(p, 8) + <u64>bytes, 8);
}

export function setTxCount(n: i32): void { txCount = n; }
export function setGenUsed(n: i32): void { genUsed = n; }
export function setNow(ms: u32): void { nowMs = ms; }
export function nextIpv4Id(): u16 { ipv4Id = (ipv4Id + 1) & 0xffff; return <u16>ipv4Id; }

/** Copies the config record at `rec` into the globals; returns false when it is inconsistent. */
export function applyConfig(rec: usize): bool {
  const flags = load<u32>(rec, CFG_FLAGS);
  const port = load<u16>(rec, CFG_TUNNEL_PORT);
  const vni = load<u32>(rec, CFG_VNI);
  const podMtu = <i32>load<u16>(rec, CFG_POD_MTU);
  const hostMtu = <i32>load<u16>(rec, CFG_HOST_MTU);
  const mtu4 = <i32>load<u16>(rec, CFG_TUNNEL_MTU4);
  const mtu6 = <i32>load<u16>(rec, CFG_TUNNEL_MTU6);
  const smin = <u32>load<u16>(rec, CFG_SPORT_MIN);
  const smax = <u32>load<u16>(rec, CFG_SPORT_MAX);
  if (port == 0 || vni > 0xffffff) return false;
  if (podMtu < 576 || hostMtu < 576 || mtu4 < 576 || mtu6 < 576) return false;
  const maxData = slotSize - headroom;
  if (podMtu + 14 > maxData || hostMtu > maxData || mtu4 + 14 > maxData || mtu6 + 14 > maxData) return false;
  if (smin == 0 || smax < smin) return false;
  if ((flags & (CFGF_HAS_UNDERLAY4 | CFGF_HAS_UNDERLAY6)) == 0) return false;
  memory.copy(configBase, rec, <usize>CFG_SIZE);
  cfgFlags = flags;
  cfgTunnelPort = port;
  cfgTunnelPortLe = bswap<u16>(port);
  cfgVni = vni;
  cfgPodMtu = podMtu;
  cfgHostMtu = hostMtu;
  cfgTunnelMtu4 = mtu4;
  cfgTunnelMtu6 = mtu6;
  cfgSportMin = smin;
  cfgSportSpan = smax - smin + 1;
  cfgIcmpRate = load<u32>(rec, CFG_ICMP_RATE);
  cfgIcmpBurst = load<u32>(rec, CFG_ICMP_BURST);
  cfgUnderlay4 = load<u32>(configBase, CFG_UNDERLAY4);
  cfgGateway4 = load<u32>(configBase, CFG_GATEWAY4);
  cfgVtepMac = configBase + CFG_VTEP_MAC;
  cfgRouterMac = configBase + CFG_ROUTER_MAC;
  cfgUnderlay6 = configBase + CFG_UNDERLAY6;
  cfgGateway6 = configBase + CFG_GATEWAY6;
  configured = true;
  return true;
}
