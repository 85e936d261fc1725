// The typed wrapper around the Wasm data plane: the only host code that knows memory offsets.
//
// Lifecycle: `Dataplane.create()` instantiates build/weft.wasm, checks its ABI version and
// lists, and sizes its memory once (`init`); `configure()` sets the node; pods, peers and
// routes are table operations between batches. A batch: put packets in slots (rx), call
// `process(n)`, then read per input `result(i)` and the TX list `tx(k)`.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as A from "./abi.ts";
import { loadNative, type AotHandle } from "../native/index.ts";
import { parseIp, parseMac, parseCidr, formatIp, ipFamily, type Cidr } from "../net/addr.ts";
import { packageRoot } from "../package-root.ts";

export class DataplaneError extends Error {
  constructor(message: string, readonly code?: number) { super(message); this.name = "DataplaneError"; }
}

export interface DataplaneLimits {
  /** log2 of the slot size: 11 (2 KiB) .. 16 (64 KiB). Default 11. */
  slotSizeLog2?: number;
  /** Bytes kept free in front of each packet for prepended headers (>= 192). Default 192. */
  headroom?: number;
  /** Slots for packets the router generates in a batch (IPv4 fragments). Default 256. */
  genSlots?: number;
  maxPods?: number;
  maxPeers?: number;
  maxRoutes4?: number;
  maxRoutes6?: number;
  /**
   * Reserve the buffers for TUN/TAP offloads (docs/OFFLOADS.md): `rxBuffers` super-packet read
   * buffers of 64 KiB + headers (default 64: the most packets one TAP read batch yields), and a
   * coalescing area for a whole TX list. Default: none.
   */
  offload?: { rxBuffers?: number };
}

/** Byte offsets (and views) of the offload buffers in Wasm memory. */
export interface OffloadBuffers {
  /** Super-packet reads: `rxCount` buffers of `rxBufferBytes` at `rxArea`, their offsets / lengths / split results. */
  rxCount: number;
  rxArea: number;
  rxBufferBytes: number;
  rxInOffsets: number;
  rxInLengths: number;
  rxResults: number;
  rxInOffsetsView: Uint32Array;
  rxInLengthsView: Uint32Array;
  rxResultsView: Int32Array;
  /** Coalescing output: packed frames with vnet headers, and their offsets / lengths. */
  groArea: number;
  groBytes: number;
  groOutOffsets: number;
  groOutLengths: number;
  groOutOffsetsView: Uint32Array;
  groOutLengthsView: Uint32Array;
}

/** The largest read from a TUN/TAP with IFF_VNET_HDR: 65535 + Ethernet + the 10-byte header, rounded. */
export const OFFLOAD_RX_BUFFER_BYTES = 65_600;

export interface NodeDataplaneConfig {
  encapsulation: "vxlan" | "geneve";
  /** UDP destination port of the tunnel (8472 VXLAN as Linux/flannel, 6081 Geneve). */
  port: number;
  vni: number;
  /** Our VTEP MAC: the inner source MAC of what we encapsulate, the inner destination we accept. */
  vtepMac: string;
  /** The gateway MAC pods see (answers to ARP / NS for the gateway). */
  routerMac: string;
  underlay4?: string;
  underlay6?: string;
  gateway4?: string;
  gateway6?: string;
  /** Largest IP packet sent to a pod, to the host port, and inner packet over IPv4 / IPv6 underlays. */
  podMtu: number;
  hostMtu: number;
  tunnelMtu4: number;
  tunnelMtu6: number;
  /** Compute the outer UDP checksum over IPv4 (RFC 7348 allows zero). Default false. */
  udpChecksum4?: boolean;
  sourcePortMin?: number;
  sourcePortMax?: number;
  icmpRatePerSec?: number;
  icmpBurst?: number;
}

export interface PodEntry { mac: string; ipv4?: string; ipv6?: string }
export interface PeerEntry { vtepMac: string; underlay: string }
export type RouteTarget =
  | { kind: "pod"; port: number }
  | { kind: "peer"; peer: number }
  | { kind: "host" }
  | { kind: "blackhole" };

export interface PacketResult { verdict: A.VerdictName; reason: A.DropReason; port: number; peer: number; txCount: number }
export interface TxEntry { off: number; len: number; port: number; peer: number; input: number }

export interface PortCounters { rxPackets: bigint; rxBytes: bigint; txPackets: bigint; txBytes: bigint }
export interface Counters {
  drops: Record<A.DropReason, bigint>;
  events: Record<A.EventName, bigint>;
  ports: PortCounters[];
  peers: PortCounters[];
}

let compiled: WebAssembly.Module | undefined;

export function defaultWasmPath(): string {
  return process.env.WEFT_WASM ?? `${packageRoot}build/weft.wasm`;
}

function compile(path: string): WebAssembly.Module {
  if (!compiled || path !== defaultWasmPath()) {
    let bytes: Buffer;
    try { bytes = readFileSync(path); } catch (e) {
      throw new DataplaneError(`cannot read the data plane module ${path} (run \`npm run build\`): ${(e as Error).message}`);
    }
    const mod = new WebAssembly.Module(new Uint8Array(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength));
    if (path !== defaultWasmPath()) return mod;
    compiled = mod;
  }
  return compiled;
}

type Exports = Record<string, (...args: number[]) => number> & { memory: WebAssembly.Memory };

/**
 * Where the module runs: "v8" instantiates build/weft.wasm; "aot" makes an instance of the same
 * module compiled ahead of time into the native addon (build/weft.scalar.wasm through wasm2c,
 * docs/AOT.md), with the same exports and a memory of its own behind one ArrayBuffer.
 */
export type DataplaneRuntime = "v8" | "aot";

/** The exports of a new AOT instance, shaped as a WebAssembly.Instance's; its handle for the engine. */
function aotInstance(): { exports: Exports; handle: AotHandle } {
  let n;
  try { n = loadNative(); } catch (e) { throw new DataplaneError(`datapath.runtime aot needs the native addon: ${(e as Error).message}`); }
  if (!n.aotAvailable) throw new DataplaneError(`datapath.runtime aot: the addon was built without the AOT data plane (${n.aotMissing}); install wabt and rebuild (npm run build)`);
  const native = n;
  const handle = native.aotCreate();
  const ex: Record<string, unknown> = {};
  native.aotExports().forEach(([name], i) => { ex[name] = (...args: number[]) => native.aotCall(handle, i, ...args); });
  ex.memory = { get buffer() { return native.aotMemory(handle); } };
  return { exports: ex as Exports, handle };
}

export class Dataplane {
  readonly exports: Exports;
  readonly memory: WebAssembly.Memory;
  readonly u8: Uint8Array;
  readonly dv: DataView;
  /** RX descriptor arrays (views into Wasm memory, BATCH_MAX entries each). */
  readonly rxOffsets: Uint32Array;
  readonly rxLengths: Uint32Array;
  readonly rxPorts: Uint16Array;
  readonly rxFlags: Uint16Array;
  /** The TX list grouped by port (views; txCapacity entries) and its runs. */
  readonly txOffsets: Uint32Array;
  readonly txLengths: Uint32Array;
  private readonly txRuns: Uint16Array;
  /** The TX list in generation order (views; txCapacity entries). */
  readonly txRawOffsets: Uint32Array;
  readonly txRawLengths: Uint32Array;
  readonly txRawPorts: Uint16Array;
  readonly txRawPeers: Uint16Array;
  readonly txRawInputs: Uint16Array;
  readonly results: number;
  readonly slots: number;
  readonly genSlots: number;
  readonly scratch: number;
  readonly slotSize: number;
  readonly headroom: number;
  readonly portCount: number;
  readonly maxPeers: number;
  readonly txCapacity: number;
  private readonly dropCounters: number;
  private readonly eventCounters: number;
  private readonly portCounters: number;
  private readonly peerCounters: number;
  private readonly t0 = Date.now();
  /** Present when created with `offload`. */
  readonly offload?: OffloadBuffers;
  /** The AOT instance behind the exports (runtime "aot"), for the native engine's engineRun. */
  readonly aot?: AotHandle;

  private constructor(exports: Exports, offloadPtrs?: Omit<OffloadBuffers, "rxInOffsetsView" | "rxInLengthsView" | "rxResultsView" | "groOutOffsetsView" | "groOutLengthsView">, aot?: AotHandle) {
    this.exports = exports;
    this.aot = aot;
    this.memory = exports.memory;
    const L = (k: number) => exports.layout!(k);
    this.results = L(A.LAYOUT.RESULTS);
    this.slots = L(A.LAYOUT.SLOTS);
    this.genSlots = L(A.LAYOUT.GEN_SLOTS);
    this.scratch = L(A.LAYOUT.SCRATCH);
    this.slotSize = L(A.LAYOUT.SLOT_SIZE);
    this.headroom = L(A.LAYOUT.HEADROOM);
    this.portCount = L(A.LAYOUT.PORT_COUNT);
    this.maxPeers = L(A.LAYOUT.MAX_PEERS);
    this.txCapacity = L(A.LAYOUT.TX_CAPACITY);
    this.dropCounters = L(A.LAYOUT.DROP_COUNTERS);
    this.eventCounters = L(A.LAYOUT.EVENT_COUNTERS);
    this.portCounters = L(A.LAYOUT.PORT_COUNTERS);
    this.peerCounters = L(A.LAYOUT.PEER_COUNTERS);
    // Memory never grows after init, so these views stay valid for the module's life.
    const buf = this.memory.buffer;
    this.u8 = new Uint8Array(buf);
    this.dv = new DataView(buf);
    this.rxOffsets = new Uint32Array(buf, L(A.LAYOUT.RX_OFFSETS), A.BATCH_MAX);
    this.rxLengths = new Uint32Array(buf, L(A.LAYOUT.RX_LENGTHS), A.BATCH_MAX);
    this.rxPorts = new Uint16Array(buf, L(A.LAYOUT.RX_PORTS), A.BATCH_MAX);
    this.rxFlags = new Uint16Array(buf, L(A.LAYOUT.RX_FLAGS), A.BATCH_MAX);
    this.txOffsets = new Uint32Array(buf, L(A.LAYOUT.TX_OFFSETS), this.txCapacity);
    this.txLengths = new Uint32Array(buf, L(A.LAYOUT.TX_LENGTHS), this.txCapacity);
    this.txRuns = new Uint16Array(buf, L(A.LAYOUT.TX_RUNS), this.txCapacity * 4);
    this.txRawOffsets = new Uint32Array(buf, L(A.LAYOUT.TX_RAW_OFFSETS), this.txCapacity);
    this.txRawLengths = new Uint32Array(buf, L(A.LAYOUT.TX_RAW_LENGTHS), this.txCapacity);
    this.txRawPorts = new Uint16Array(buf, L(A.LAYOUT.TX_RAW_PORTS), this.txCapacity);
    this.txRawPeers = new Uint16Array(buf, L(A.LAYOUT.TX_RAW_PEERS), this.txCapacity);
    this.txRawInputs = new Uint16Array(buf, L(A.LAYOUT.TX_RAW_INPUTS), this.txCapacity);
    for (let i = 0; i < A.BATCH_MAX; i++) this.rxOffsets[i] = this.dataStart(i);
    if (offloadPtrs) {
      const o = offloadPtrs;
      this.offload = {
        ...o,
        rxInOffsetsView: new Uint32Array(buf, o.rxInOffsets, o.rxCount),
        rxInLengthsView: new Uint32Array(buf, o.rxInLengths, o.rxCount),
        rxResultsView: new Int32Array(buf, o.rxResults, o.rxCount),
        groOutOffsetsView: new Uint32Array(buf, o.groOutOffsets, this.txCapacity),
        groOutLengthsView: new Uint32Array(buf, o.groOutLengths, this.txCapacity),
      };
      for (let k = 0; k < o.rxCount; k++) this.offload.rxInOffsetsView[k] = o.rxArea + k * o.rxBufferBytes;
      if (exports.loopSetup!(o.rxInOffsets, o.rxInLengths, o.rxResults, o.groArea, o.groBytes, o.groOutOffsets, o.groOutLengths, this.maxPacket) !== 0)
        throw new DataplaneError("loopSetup refused the offload buffers", -1);
    }
  }

  /**
   * The native loop's region (assembly/loop.ts): the header the engine and loopBatch share (the
   * engine's flush list), the per-port info words, the loop statistics.
   */
  loopRegion(): { header: Uint32Array; portInfo: Uint32Array; stats: Float64Array; flushCap: number } {
    const ex = this.exports;
    const buf = ex.memory.buffer;
    const cap = ex.loopLayout!(3);
    return {
      header: new Uint32Array(buf, ex.loopLayout!(0), 8 + 6 * cap),
      portInfo: new Uint32Array(buf, ex.loopLayout!(1), this.portCount),
      stats: new Float64Array(buf, ex.loopLayout!(2), 16),
      flushCap: cap,
    };
  }

  /** Instantiates the module and sizes it. Throws DataplaneError on an ABI mismatch or bad limits. */
  static create(limits: DataplaneLimits = {}, wasmPath = defaultWasmPath(), runtime: DataplaneRuntime = "v8"): Dataplane {
    let ex: Exports;
    let aot: AotHandle | undefined;
    if (runtime === "aot") {
      ({ exports: ex, handle: aot } = aotInstance());
    } else {
      const mod = compile(wasmPath);
      const inst = new WebAssembly.Instance(mod, {
        env: { abort: () => { throw new DataplaneError("data plane module aborted (a bug: assembly/ must not throw)"); } },
      });
      ex = inst.exports as unknown as Exports;
    }
    const v = ex.abiVersion!();
    if (v !== A.ABI_VERSION) throw new DataplaneError(`data plane ABI version ${v}, host expects ${A.ABI_VERSION}: rebuild (npm run build)`);
    if (ex.dropReasonCount!() !== A.DROP_REASONS.length || ex.eventCount!() !== A.EVENTS.length) {
      throw new DataplaneError("drop reason / event lists differ between assembly/abi.ts and host/wasm/abi.ts");
    }
    const r = ex.init!(
      limits.slotSizeLog2 ?? 11, limits.headroom ?? A.MIN_HEADROOM, limits.genSlots ?? 256,
      limits.maxPods ?? 1024, limits.maxPeers ?? 256, limits.maxRoutes4 ?? 4096, limits.maxRoutes6 ?? 4096,
    );
    if (r !== 0) throw new DataplaneError(`bad data plane limits ${JSON.stringify(limits)}`, r);
    let offloadPtrs;
    if (limits.offload) {
      // Memory grows here, once, before any view of it exists.
      const rxCount = Math.max(1, Math.min(256, limits.offload.rxBuffers ?? 64));
      const txCap = ex.layout!(A.LAYOUT.TX_CAPACITY);
      const slot = ex.layout!(A.LAYOUT.SLOT_SIZE);
      const alloc = (bytes: number) => {
        const p = ex.offloadAlloc!(bytes);
        if (p < 0) throw new DataplaneError(`cannot reserve ${bytes} bytes for offload buffers`);
        return p;
      };
      const groBytes = txCap * (slot + 16);
      offloadPtrs = {
        rxCount, rxBufferBytes: OFFLOAD_RX_BUFFER_BYTES, rxArea: alloc(rxCount * OFFLOAD_RX_BUFFER_BYTES),
        rxInOffsets: alloc(rxCount * 4), rxInLengths: alloc(rxCount * 4), rxResults: alloc(rxCount * 4),
        groArea: alloc(groBytes), groBytes, groOutOffsets: alloc(txCap * 4), groOutLengths: alloc(txCap * 4),
      };
    }
    return new Dataplane(ex, offloadPtrs, aot);
  }

  private check(r: number, what: string): void {
    if (r < 0) throw new DataplaneError(`${what}: ${A.ERRORS[r] ?? `error ${r}`}`, r);
  }

  private scratchClear(n: number): void { this.u8.fill(0, this.scratch, this.scratch + n); }

  configure(c: NodeDataplaneConfig): void {
    const s = this.scratch;
    this.scratchClear(A.CFG.SIZE);
    let flags = 0;
    if (c.encapsulation === "geneve") flags |= A.CFGF.GENEVE;
    else if (c.encapsulation !== "vxlan") throw new DataplaneError(`encapsulation must be vxlan or geneve, not ${c.encapsulation}`);
    if (c.udpChecksum4) flags |= A.CFGF.UDP_CSUM4;
    const dv = this.dv;
    if (c.underlay4) { this.putIp(s + A.CFG.UNDERLAY4, c.underlay4, 4, "underlay4"); flags |= A.CFGF.HAS_UNDERLAY4; }
    if (c.underlay6) { this.putIp(s + A.CFG.UNDERLAY6, c.underlay6, 6, "underlay6"); flags |= A.CFGF.HAS_UNDERLAY6; }
    if (c.gateway4) { this.putIp(s + A.CFG.GATEWAY4, c.gateway4, 4, "gateway4"); flags |= A.CFGF.HAS_GATEWAY4; }
    if (c.gateway6) { this.putIp(s + A.CFG.GATEWAY6, c.gateway6, 6, "gateway6"); flags |= A.CFGF.HAS_GATEWAY6; }
    dv.setUint32(s + A.CFG.FLAGS, flags, true);
    dv.setUint16(s + A.CFG.TUNNEL_PORT, c.port, true);
    dv.setUint32(s + A.CFG.VNI, c.vni, true);
    dv.setUint16(s + A.CFG.POD_MTU, c.podMtu, true);
    dv.setUint16(s + A.CFG.HOST_MTU, c.hostMtu, true);
    dv.setUint16(s + A.CFG.TUNNEL_MTU4, c.tunnelMtu4, true);
    dv.setUint16(s + A.CFG.TUNNEL_MTU6, c.tunnelMtu6, true);
    this.u8.set(parseMac(c.vtepMac), s + A.CFG.VTEP_MAC);
    this.u8.set(parseMac(c.routerMac), s + A.CFG.ROUTER_MAC);
    dv.setUint16(s + A.CFG.SPORT_MIN, c.sourcePortMin ?? 32768, true);
    dv.setUint16(s + A.CFG.SPORT_MAX, c.sourcePortMax ?? 60999, true);
    dv.setUint32(s + A.CFG.ICMP_RATE, c.icmpRatePerSec ?? 1000, true);
    dv.setUint32(s + A.CFG.ICMP_BURST, c.icmpBurst ?? 50, true);
    const r = this.exports.configSet!();
    if (r < 0) throw new DataplaneError(`data plane rejected the node config (ports, VNI <= 16777215, MTUs 576..slot size, an underlay address): ${JSON.stringify(c)}`, r);
  }

  private putIp(at: number, text: string, family: 4 | 6, field: string): void {
    const b = parseIp(text);
    if (b.length !== (family === 4 ? 4 : 16)) throw new DataplaneError(`${field} must be an IPv${family} address: ${text}`);
    this.u8.set(b, at);
  }

  attachPod(port: number, pod: PodEntry): void {
    if (!Number.isInteger(port) || port < A.PORT_POD_BASE || port >= this.portCount) throw new DataplaneError(`pod port ${port} out of range ${A.PORT_POD_BASE}..${this.portCount - 1}`);
    const s = this.scratch;
    this.scratchClear(A.POD.SIZE);
    this.u8.set(parseMac(pod.mac), s + A.POD.MAC);
    let flags = 0;
    if (pod.ipv4) { this.putIp(s + A.POD.IPV4, pod.ipv4, 4, "pod ipv4"); flags |= A.POD.HAS_IPV4; }
    if (pod.ipv6) { this.putIp(s + A.POD.IPV6, pod.ipv6, 6, "pod ipv6"); flags |= A.POD.HAS_IPV6; }
    this.dv.setUint32(s + A.POD.FLAGS, flags, true);
    this.check(this.exports.podAttach!(port), `attach pod on port ${port}`);
  }

  detachPod(port: number): boolean {
    const r = this.exports.podDetach!(port);
    if (r === -4) return false;
    this.check(r, `detach pod on port ${port}`);
    return true;
  }

  setPeer(idx: number, peer: PeerEntry): void {
    const s = this.scratch;
    this.scratchClear(A.PEER.SIZE);
    this.u8.set(parseMac(peer.vtepMac), s + A.PEER.MAC);
    const addr = parseIp(peer.underlay);
    this.u8.set(addr, s + A.PEER.ADDR);
    this.dv.setUint32(s + A.PEER.FLAGS, addr.length === 16 ? A.PEER.IPV6 : 0, true);
    this.check(this.exports.peerAdd!(idx), `set peer ${idx} (${peer.underlay})`);
  }

  removePeer(idx: number): boolean {
    const r = this.exports.peerRemove!(idx);
    if (r === -4) return false;
    this.check(r, `remove peer ${idx}`);
    return true;
  }

  static encodeTarget(t: RouteTarget): number {
    switch (t.kind) {
      case "pod": return ((A.TARGET_POD << A.TARGET_KIND_SHIFT) | t.port) >>> 0;
      case "peer": return ((A.TARGET_PEER << A.TARGET_KIND_SHIFT) | t.peer) >>> 0;
      case "host": return (A.TARGET_HOST << A.TARGET_KIND_SHIFT) >>> 0;
      case "blackhole": return (A.TARGET_BLACKHOLE << A.TARGET_KIND_SHIFT) >>> 0;
    }
  }

  static decodeTarget(v: number): RouteTarget | undefined {
    if (v === -1 || v === 0xffffffff) return undefined;
    const kind = (v >>> A.TARGET_KIND_SHIFT) & 0xf;
    const idx = v & 0x0fffffff;
    if (kind === A.TARGET_POD) return { kind: "pod", port: idx };
    if (kind === A.TARGET_PEER) return { kind: "peer", peer: idx };
    if (kind === A.TARGET_HOST) return { kind: "host" };
    return { kind: "blackhole" };
  }

  addRoute(cidr: string | Cidr, target: RouteTarget): void {
    const c = typeof cidr === "string" ? parseCidr(cidr) : cidr;
    this.scratchClear(16);
    this.u8.set(c.addr, this.scratch);
    this.check(this.exports.routeAdd!(c.family, c.len, Dataplane.encodeTarget(target) | 0), `add route ${c.text}`);
  }

  removeRoute(cidr: string | Cidr): boolean {
    const c = typeof cidr === "string" ? parseCidr(cidr) : cidr;
    this.scratchClear(16);
    this.u8.set(c.addr, this.scratch);
    const r = this.exports.routeRemove!(c.family, c.len);
    if (r === -4) return false;
    this.check(r, `remove route ${c.text}`);
    return true;
  }

  /** Where the data plane would send a packet to `addr` now. */
  lookup(addr: string): RouteTarget | undefined {
    const fam = ipFamily(addr);
    this.scratchClear(16);
    this.u8.set(parseIp(addr), this.scratch);
    return Dataplane.decodeTarget(this.exports.routeGet!(fam) >>> 0);
  }

  // ---- batches ----------------------------------------------------------------------------

  slotStart(i: number): number { return this.slots + i * this.slotSize; }
  /** Default place of packet data in slot i: right after the headroom. */
  dataStart(i: number): number { return this.slots + i * this.slotSize + this.headroom; }
  /** Largest packet a slot holds at dataStart. */
  get maxPacket(): number { return this.slotSize - this.headroom; }

  setRx(i: number, off: number, len: number, port: number, flags = 0): void {
    this.rxOffsets[i] = off;
    this.rxLengths[i] = len;
    this.rxPorts[i] = port;
    this.rxFlags[i] = flags;
  }

  /** Number of per-port runs in the grouped TX list of the last batch. */
  txRunCount(): number { return this.exports.txRunCount!(); }
  /** Run r: packets txOffsets/txLengths[start .. start+count) all go out on `port`. */
  txRunPort(r: number): number { return this.txRuns[r * 4]!; }
  txRunStart(r: number): number { return this.txRuns[r * 4 + 2]!; }
  txRunLength(r: number): number { return this.txRuns[r * 4 + 3]!; }

  /** Copies `bytes` into slot i and describes it (tests, replay; the router's I/O writes slots directly). */
  putPacket(i: number, bytes: Uint8Array, port: number, flags = 0): void {
    if (bytes.length > this.maxPacket) throw new DataplaneError(`packet of ${bytes.length} bytes exceeds the slot (${this.maxPacket})`);
    const off = this.dataStart(i);
    this.u8.set(bytes, off);
    this.setRx(i, off, bytes.length, port, flags);
  }

  /** Runs descriptors 0..n-1; returns the number of TX entries. */
  process(n: number, nowMs = Date.now() - this.t0): number {
    const r = this.exports.process!(n, nowMs | 0);
    if (r < 0) throw new DataplaneError("process before configure()", r);
    return r;
  }

  result(i: number): PacketResult {
    const r = this.results + i * A.RESULT_SIZE;
    const u8 = this.u8;
    return {
      verdict: A.VERDICT_NAMES[u8[r]!] ?? "drop",
      reason: A.DROP_REASONS[u8[r + 1]!] ?? "None",
      port: this.dv.getUint16(r + 2, true),
      peer: this.dv.getUint16(r + 4, true),
      txCount: this.dv.getUint16(r + 6, true),
    };
  }

  /** Raw verdict byte and reason byte of input i (no allocation). */
  verdictOf(i: number): number { return this.u8[this.results + i * A.RESULT_SIZE]!; }
  reasonOf(i: number): number { return this.u8[this.results + i * A.RESULT_SIZE + 1]!; }

  /** TX entry k of the last batch, in generation order. */
  tx(k: number): TxEntry {
    return { off: this.txRawOffsets[k]!, len: this.txRawLengths[k]!, port: this.txRawPorts[k]!, peer: this.txRawPeers[k]!, input: this.txRawInputs[k]! };
  }

  /** A copy of TX entry k's bytes. */
  txBytes(k: number): Uint8Array {
    const t = this.tx(k);
    return this.u8.slice(t.off, t.off + t.len);
  }

  /**
   * The offload calls' u64 counters of this instance: refusals by reason, then events
   * (assembly/offload/reasons.ts, docs/OFFLOADS.md). A copy.
   */
  offloadCounters(): bigint[] {
    const ex = this.exports;
    return [...new BigUint64Array(this.memory.buffer, ex.offloadCounters!(), ex.offloadCounterCount!())];
  }

  /**
   * The offload counters by name: `refused.<Reason>` (host/wasm/abi.ts OFFLOAD_REFUSALS) and the
   * events (OFFLOAD_EVENTS). Zero-length when the module was built without them.
   */
  namedOffloadCounters(): Record<string, number> {
    const raw = this.offloadCounters();
    if (raw.length !== A.OFFLOAD_REFUSALS.length + A.OFFLOAD_EVENTS.length) {
      throw new DataplaneError("offload counter lists differ between assembly/offload/reasons.ts and host/wasm/abi.ts");
    }
    const out: Record<string, number> = {};
    A.OFFLOAD_REFUSALS.forEach((n, k) => { if (k > 0) out[`refused.${n}`] = Number(raw[k]); });
    A.OFFLOAD_EVENTS.forEach((n, k) => { out[n] = Number(raw[A.OFFLOAD_REFUSALS.length + k]); });
    return out;
  }

  counters(): Counters {
    const dv = this.dv;
    const get = (at: number) => dv.getBigUint64(at, true);
    const drops = {} as Record<A.DropReason, bigint>;
    A.DROP_REASONS.forEach((n, k) => { drops[n] = get(this.dropCounters + 8 * k); });
    const events = {} as Record<A.EventName, bigint>;
    A.EVENTS.forEach((n, k) => { events[n] = get(this.eventCounters + 8 * k); });
    const block = (base: number, k: number): PortCounters => ({
      rxPackets: get(base + 32 * k), rxBytes: get(base + 32 * k + 8), txPackets: get(base + 32 * k + 16), txBytes: get(base + 32 * k + 24),
    });
    const ports = Array.from({ length: this.portCount }, (_, k) => block(this.portCounters, k));
    const peers = Array.from({ length: this.maxPeers }, (_, k) => block(this.peerCounters, k));
    return { drops, events, ports, peers };
  }

  get memoryBytes(): number { return this.memory.buffer.byteLength; }
}

export { formatIp };
