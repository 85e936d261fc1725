// loopBatch (assembly/loop.ts), the native loop's one Wasm call per batch, against the JS batch
// loop it replaces (host/router/datapath.ts): the same frames read from a pod go through both, and
// every port must be handed the same writes, byte for byte — plain TX runs and coalesced (GRO)
// runs to two offload ports in one batch (the coalescing area shared between them), ports that
// are not present, a batch of super-packets larger than the slots (split in several calls), and
// the GRO kill switch bit. No devices: the flush entries are read from Wasm memory.
import { describe, expect, it } from "vitest";
import { Datapath } from "../host/router/datapath.ts";
import { createFakeTunPair } from "../host/io/fake/tun.ts";
import { IoStats } from "../host/io/stats.ts";
import type { PacketBatchIO, SlotList } from "../host/io/types.ts";
import { PORT_HOST, PORT_UNDERLAY } from "../host/wasm/abi.ts";
import type { Dataplane } from "../host/wasm/dataplane.ts";
import { build } from "./reference/packet.ts";
import { makeNode, NODE, POD_A, POD_B } from "./helpers/node.ts";
import * as F from "./helpers/frames.ts";

const PRESENT = 0x80000000, NO_MERGE = 0x01000000;
const VNET_LEN = 10;

/** A port that keeps every frame written to it. */
class RecordingPort implements PacketBatchIO {
  readonly stats = new IoStats();
  readonly closed = false;
  readonly frames: number[][] = [];
  readBatch(): number { return 0; }
  writeBatch(mem: Uint8Array, slots: SlotList, start: number, count: number): number {
    for (let i = start; i < start + count; i++) this.frames.push([...mem.subarray(slots.offsets[i]!, slots.offsets[i]! + slots.lengths[i]!)]);
    return count;
  }
  onReadable(): void {}
  onWritable(): void {}
  close(): void {}
}

function tcpSegment(dst: string, seq: number, len: number, id = 100): Uint8Array {
  const payload = Uint8Array.from({ length: len }, (_, i) => (seq + i) & 0xff);
  const ip = build([
    { kind: "ipv4", tos: 0, id, df: true, mf: false, fragOffset: 0, ttl: 64, protocol: 6, src: POD_B.ipv4, dst },
    { kind: "tcp", srcPort: 40000, dstPort: 5201, seq, ack: 1, flags: 0x10, window: 1024, urgent: 0 },
    { kind: "payload", bytes: payload },
  ]);
  return F.eth(NODE.routerMac, POD_B.mac, 0x0800, ip);
}

/** A mixed batch from pod B: TCP runs to pod A and to the host (both offload ports), pings to a remote pod, a spoofed frame. */
function mixedFrames(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let k = 0; k < 6; k++) out.push(tcpSegment(POD_A.ipv4, 1 + k * 1000, 1000, 100 + k));
  for (let k = 0; k < 3; k++) out.push(F.eth(NODE.routerMac, POD_B.mac, 0x0800, F.ipv4(POD_B.ipv4, "10.244.2.7", 1, F.icmpEcho(7, k))));
  for (let k = 0; k < 4; k++) out.push(tcpSegment(NODE.gateway4!, 5000 + k * 500, 500, 300 + k));
  out.push(F.eth(NODE.routerMac, "02:bb:00:00:00:09", 0x0800, F.ipv4(POD_B.ipv4, POD_A.ipv4, 17, F.udp(POD_B.ipv4, POD_A.ipv4, 1, 2, new Uint8Array(8)))));  // spoofed MAC: dropped
  out.push(tcpSegment(POD_A.ipv4, 1 + 6 * 1000, 1000, 106));
  return out;
}

/** The JS loop: frames read from pod B's fake TAP, writes recorded per port. */
function viaDatapath(frames: Uint8Array[], offloadHost: boolean) {
  const dp = makeNode({}, { offload: {} });
  const datapath = new Datapath(dp);
  const b = createFakeTunPair({ kind: "tap" });
  const ports = { a: new RecordingPort(), host: new RecordingPort(), underlay: new RecordingPort() };
  datapath.addPort(POD_B.port, b.device, "pod:b");
  datapath.addPort(POD_A.port, ports.a, "pod:a", 0, { l3Off: 14 });
  datapath.addPort(PORT_HOST, ports.host, "host", 0, offloadHost ? { l3Off: 0 } : undefined);
  datapath.addPort(PORT_UNDERLAY, ports.underlay, "underlay");
  const mem = new Uint8Array(1 << 16);
  const slots = { offsets: new Uint32Array(frames.length), lengths: new Uint32Array(frames.length), capacity: 1 << 16 };
  let at = 0;
  frames.forEach((f, i) => { mem.set(f, at); slots.offsets[i] = at; slots.lengths[i] = f.length; at += f.length; });
  expect(b.peer.writeBatch(mem, slots, 0, frames.length)).toBe(frames.length);
  datapath.drain(POD_B.port);
  return { ports, stats: datapath.stats };
}

interface LoopNode { dp: Dataplane; header: Uint32Array; portInfo: Uint32Array; stats: Float64Array }

function loopNode(offloadHost: boolean): LoopNode {
  const dp = makeNode({}, { offload: {} });
  const r = dp.loopRegion();
  r.portInfo[POD_B.port] = PRESENT;
  r.portInfo[POD_A.port] = PRESENT | ((14 + 1) << 16);
  r.portInfo[PORT_HOST] = PRESENT | (offloadHost ? (0 + 1) << 16 : 0);
  r.portInfo[PORT_UNDERLAY] = PRESENT;
  return { dp, header: r.header, portInfo: r.portInfo, stats: r.stats };
}

/** What the engine would write for the flush entries loopBatch queued: frames per port. */
function flushed(n: LoopNode, into: Map<number, number[][]>): void {
  const { dp, header: h } = n;
  const o = dp.offload!;
  for (let q = 0; q < h[0]!; q++) {
    const [port, kind, start, count, packets] = h.subarray(8 + q * 6, 8 + q * 6 + 5);
    expect(packets).toBeGreaterThanOrEqual(kind === 0 ? count! : 1);
    const offs = kind === 0 ? dp.txOffsets : o.groOutOffsetsView, lens = kind === 0 ? dp.txLengths : o.groOutLengthsView;
    const list = into.get(port!) ?? [];
    for (let i = start!; i < start! + count!; i++) list.push([...dp.u8.subarray(offs[i]!, offs[i]! + lens[i]!)]);
    into.set(port!, list);
  }
}

describe("loopBatch: the native loop's Wasm batch", () => {
  for (const offloadHost of [true, false]) {
    it(`hands every port the writes the JS loop makes (host port ${offloadHost ? "offload" : "plain"})`, () => {
      const frames = mixedFrames();
      const js = viaDatapath(frames, offloadHost);
      const n = loopNode(offloadHost);
      frames.forEach((f, i) => n.dp.putPacket(i, f, 0, 0));
      n.header.set([0, 0, POD_B.port, frames.length, 1234, 0], 0);
      expect(n.dp.exports.loopBatch!()).toBe(0);
      const got = new Map<number, number[][]>();
      flushed(n, got);
      expect(got.get(POD_A.port)).toEqual(js.ports.a.frames);
      expect(got.get(PORT_HOST)).toEqual(js.ports.host.frames);
      expect(got.get(PORT_UNDERLAY)).toEqual(js.ports.underlay.frames);
      // the GRO run to A is one merged frame of 7 segments (vnet header: GSO TCPv4)
      expect(js.ports.a.frames).toHaveLength(1);
      expect(js.ports.a.frames[0]![1]).toBe(1);
      expect(js.ports.underlay.frames).toHaveLength(3);
      // loop statistics as the JS loop counts them
      expect(n.stats[0]).toBe(js.stats.batches);
      expect(n.stats[1]).toBe(js.stats.packetsIn);
    });
  }

  it("counts TX for a port that is not present, and honours the GRO kill switch bit", () => {
    const n = loopNode(true);
    n.portInfo[PORT_UNDERLAY] = 0;
    n.portInfo[POD_A.port] = (n.portInfo[POD_A.port]! | NO_MERGE) >>> 0;
    const frames = mixedFrames();
    frames.forEach((f, i) => n.dp.putPacket(i, f, 0, 0));
    n.header.set([0, 0, POD_B.port, frames.length, 0, 0], 0);
    expect(n.dp.exports.loopBatch!()).toBe(0);
    expect(n.stats[14]).toBe(3);  // the three pings had no underlay to go to
    const got = new Map<number, number[][]>();
    flushed(n, got);
    expect(got.has(PORT_UNDERLAY)).toBe(false);
    const a = got.get(POD_A.port)!;
    expect(a).toHaveLength(7);  // unmerged: one frame per segment, each with a GSO_NONE vnet header
    for (const f of a) expect(f[1]).toBe(0);
  });

  it("splits super-packets that need more than one batch of slots over several calls", () => {
    const n = loopNode(true);
    const o = n.dp.offload!;
    // 8 TSO super-packets of 44 segments each (352 > 256 slots): vnet header + one big TCP frame
    const MSS = 1400, SEGS = 44, K = 8;
    for (let k = 0; k < K; k++) {
      const frame = tcpSegment(POD_A.ipv4, 1 + k * MSS * SEGS, MSS * SEGS, 1000 + k * SEGS);
      const vnet = new Uint8Array(VNET_LEN);
      const dv = new DataView(vnet.buffer);
      vnet[0] = 1;                    // NEEDS_CSUM
      vnet[1] = 1;                    // GSO_TCPV4
      dv.setUint16(2, 14 + 20 + 20, true);  // hdr_len
      dv.setUint16(4, MSS, true);     // gso_size
      dv.setUint16(6, 14 + 20, true); // csum_start
      dv.setUint16(8, 16, true);      // csum_offset
      n.dp.u8.set(vnet, o.rxInOffsetsView[k]!);
      n.dp.u8.set(frame, o.rxInOffsetsView[k]! + VNET_LEN);
      o.rxInLengthsView[k] = VNET_LEN + frame.length;
    }
    n.portInfo[POD_B.port] = PRESENT | ((14 + 1) << 16);
    n.header.set([0, 0, POD_B.port, K, 0, 0, 0], 0);
    let calls = 0, r: number;
    const got = new Map<number, number[][]>();
    do {
      r = n.dp.exports.loopBatch!();
      calls++;
      flushed(n, got);
    } while (r === 1 && calls < 10);
    expect(r).toBe(0);
    expect(calls).toBe(2);
    expect(n.stats[11]).toBe(K);          // super-packets in
    expect(n.stats[12]).toBe(K * SEGS);   // segments out
    expect(n.stats[1]).toBe(K * SEGS);    // packets in
    // every payload byte reaches pod A once and in order (merged frames: vnet + Ethernet + IPv4 + TCP headers)
    const payload = got.get(POD_A.port)!.flatMap((f) => f.slice(VNET_LEN + 14 + 20 + 20));
    expect(payload.length).toBe(K * SEGS * MSS);
    for (let i = 0; i < payload.length; i += 997) expect(payload[i]).toBe((1 + i) & 0xff);
  });
});
