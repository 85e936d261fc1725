// The offloads against the real Linux stack, through a TUN and a TAP opened with IFF_VNET_HDR and
// TUNSETOFFLOAD(CSUM | TSO4 | TSO6 | TSO_ECN), the flags docs/OFFLOADS.md recommends, in a
// private network namespace:
//   - read side: a kernel TCP socket sends to a peer that this test plays through the TUN; the
//     kernel hands us TSO super-packets, which tsoSplit cuts (checked against the reference);
//     every byte must arrive in order and every segment verify;
//   - write side: this test plays a TCP client; its data segments go through groCoalesce and are
//     written as GSO super-packets; a kernel socket must receive every byte (its SHA-256 is
//     compared), and the TUN's RX counter shows one packet per super-packet.
// So the vnet headers we read are the kernel's own, and the ones we write are the ones it takes.
// Needs root, iproute2, /dev/net/tun and the native addon; skipped otherwise.
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OffloadHarness, VNET_LEN, referenceSplit, parseVnet, GsoType } from "./reference/offload.ts";
import { build, parseIpv4, parseIpv6, parseTcp, type Layer } from "./reference/packet.ts";
import { verifyChecksum, internetChecksum, pseudoHeaderSum4, pseudoHeaderSum6 } from "./reference/checksum.ts";
import { canUseNetns, NetnsFixture } from "../host/io/testing/netns.ts";
import { loadNative, nativeAvailable } from "../host/native/index.ts";
import { openTun, type LinuxTunDevice } from "../host/io/linux/tun.ts";
import { runIn } from "../host/io/testing/children.ts";
import { describeRequiring } from "./helpers/require.ts";

const usable = canUseNetns() && nativeAvailable();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a node script inside `ns`; `done` resolves with its last stdout line as JSON. */
const childIn = (ns: string, script: string, arg: unknown, timeoutMs: number) => runIn(ns, script, arg, timeoutMs, true);

const PATTERN = "(i) => (i * 7 + (i >> 9)) & 0xff";
const pattern = (n: number) => { const f = (i: number) => (i * 7 + (i >> 9)) & 0xff; const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = f(i); return b; };

const SENDER = `
const net = require("node:net");
const o = JSON.parse(process.argv[process.argv.length - 1]);
const f = ${PATTERN};
const data = Buffer.alloc(o.bytes);
for (let i = 0; i < o.bytes; i++) data[i] = f(i);
const s = net.connect({ host: o.host, port: o.port, localAddress: o.local });
s.on("connect", () => s.end(data, () => { console.log(JSON.stringify({ sent: data.length })); setTimeout(() => process.exit(0), 300); }));
s.on("error", (e) => { console.error(e.message); process.exit(2); });
setTimeout(() => { console.error("sender timeout"); process.exit(3); }, o.timeoutMs);`;

const RECEIVER = `
const net = require("node:net");
const crypto = require("node:crypto");
const o = JSON.parse(process.argv[process.argv.length - 1]);
const srv = net.createServer((c) => {
  const h = crypto.createHash("sha256");
  let n = 0;
  c.on("data", (d) => { h.update(d); n += d.length; if (n >= o.bytes) { console.log(JSON.stringify({ received: n, sha: h.digest("hex") })); process.exit(0); } });
});
srv.listen(o.port, o.host, () => console.log("ready"));
setTimeout(() => { console.error("receiver timeout"); process.exit(3); }, o.timeoutMs);`;

interface Family { v6: boolean; kernel: string; peer: string }

const KINDS = [
  { kind: "tun" as const, l3Off: 0, net4: "10.77.0", net6: "fd00:77::" },
  { kind: "tap" as const, l3Off: 14, net4: "10.78.0", net6: "fd00:78::" },
];
/** The MAC this test uses as the TAP peer (a static neighbour entry in the namespace: no ARP/NDP). */
const PEER_MAC = Uint8Array.from([0x02, 0x77, 0, 0, 0, 0x02]);

for (const { kind, l3Off, net4, net6 } of KINDS) describeRequiring(!usable && ["root with network namespaces", "the native addon"])(`offloads against the kernel (${kind} with IFF_VNET_HDR)`, () => {
  const fx = new NetnsFixture();
  let ns = "";
  let tun: LinuxTunDevice;
  let devMac = new Uint8Array(6);
  const FAMILIES: Family[] = [
    { v6: false, kernel: `${net4}.1`, peer: `${net4}.2` },
    { v6: true, kernel: `${net6}1`, peer: `${net6}2` },
  ];
  let h: OffloadHarness;
  let big: number; // read slots for super-packets
  const READ_SLOTS = 32;
  const READ_CAP = 65536 + 64;
  let txArea: number;

  beforeAll(() => {
    if (!usable) return;
    ns = fx.addNetns(kind, { ipv6: true }).name;
    tun = openTun({ kind, name: fx.name(kind), netns: `/var/run/netns/${ns}`, vnetHdr: true });
    const n = loadNative();
    n.tunSetOffload(tun.fd, n.TUN_F.CSUM! | n.TUN_F.TSO4! | n.TUN_F.TSO6! | n.TUN_F.TSO_ECN!);
    fx.ip(["addr", "add", `${net4}.1/24`, "dev", tun.name], ns);
    fx.ip(["-6", "addr", "add", `${net6}1/64`, "dev", tun.name, "nodad"], ns);
    fx.ip(["link", "set", "dev", tun.name, "up"], ns);
    if (kind === "tap") {
      devMac = Uint8Array.from(fx.mac(tun.name, ns).split(":").map((x) => parseInt(x, 16)));
      const mac = [...PEER_MAC].map((b) => b.toString(16).padStart(2, "0")).join(":");
      fx.ip(["neigh", "add", `${net4}.2`, "lladdr", mac, "dev", tun.name, "nud", "permanent"], ns);
      fx.ip(["-6", "neigh", "add", `${net6}2`, "lladdr", mac, "dev", tun.name, "nud", "permanent"], ns);
    }
    h = new OffloadHarness(new Uint8Array(readFileSync("build/weft.wasm")));
    big = h.ex.offloadAlloc(READ_SLOTS * READ_CAP);
    txArea = h.ex.offloadAlloc(1 << 20);
  });
  afterAll(() => {
    tun?.close();
    fx.cleanup();
  });

  /** Reads what the kernel sent and splits it: segments (IP packets) plus statistics. */
  function readSegments(stats: { reads: number; gso: number; gsoSegments: number; partial: number; mismatches: number; bad: number }): Uint8Array[] {
    const mem = h.u8;
    const offsets = new Uint32Array(READ_SLOTS).map((_, i) => big + i * READ_CAP);
    const lengths = new Uint32Array(READ_SLOTS);
    const n = tun.readBatch(mem, { offsets, lengths, capacity: READ_CAP }, 0, READ_SLOTS);
    const out: Uint8Array[] = [];
    for (let i = 0; i < n; i++) {
      stats.reads++;
      const input = h.u8.slice(offsets[i]!, offsets[i]! + lengths[i]!);
      const v = parseVnet(input);
      if (v.flags & 1) stats.partial++;
      const segs = h.split(input, l3Off, 64, 4000);
      if (typeof segs === "number") throw new Error(`tsoSplit refused a kernel packet: reason ${segs}, vnet ${JSON.stringify(v)}`);
      const ref = referenceSplit(input, l3Off, 64, 4000);
      if (typeof ref === "number" || ref.length !== segs.length || ref.some((r, k) => Buffer.compare(r, segs[k]!) !== 0)) stats.mismatches++;
      if (v.gsoType !== GsoType.None) {
        stats.gso++;
        stats.gsoSegments += segs.length;
      }
      for (const f of segs) {
        if (l3Off === 14 && f[12] !== 0x08 && f[12] !== 0x86) continue; // not IP (none expected)
        const s = f.subarray(l3Off);
        if (!segmentOk(s)) stats.bad++;
        out.push(s);
      }
    }
    return out;
  }

  function segmentOk(s: Uint8Array): boolean {
    const v6 = s[0]! >> 4 === 6;
    if (v6) {
      if (s[6] !== 6) return true; // not TCP (e.g. NDP): nothing to check here
      const tcp = s.subarray(40);
      return verifyChecksum(tcp, 0, tcp.length, pseudoHeaderSum6(s.subarray(8, 24), s.subarray(24, 40), 6, tcp.length));
    }
    if (s[9] !== 6) return internetChecksum(s, 0, 20) === 0;
    const ihl = (s[0]! & 15) * 4;
    const tcp = s.subarray(ihl);
    return internetChecksum(s, 0, ihl) === 0 && verifyChecksum(tcp, 0, tcp.length, pseudoHeaderSum4(s.subarray(12, 16), s.subarray(16, 20), 6, tcp.length));
  }

  function tcpOf(s: Uint8Array): { sport: number; dport: number; seq: number; ack: number; flags: number; window: number; payload: Uint8Array } | undefined {
    try {
      const v6 = s[0]! >> 4 === 6;
      const seg = v6 ? (s[6] === 6 ? parseIpv6(s).payload : undefined) : s[9] === 6 ? parseIpv4(s).payload : undefined;
      if (!seg) return undefined;
      const t = parseTcp(seg);
      return { sport: t.repr.srcPort, dport: t.repr.dstPort, seq: t.repr.seq, ack: t.repr.ack, flags: t.repr.flags, window: t.repr.window, payload: t.payload };
    } catch {
      return undefined;
    }
  }

  function ipLayer(f: Family, id: number): Layer {
    return f.v6
      ? { kind: "ipv6", trafficClass: 0, flowLabel: 0, nextHeader: 6, hopLimit: 64, src: f.peer, dst: f.kernel, extHeaders: [] }
      : { kind: "ipv4", tos: 0, id, df: true, mf: false, fragOffset: 0, ttl: 64, protocol: 6, src: f.peer, dst: f.kernel };
  }

  /** The frame for an IP packet: on the TAP, Ethernet from PEER_MAC to the device. */
  function frame(p: Uint8Array): Uint8Array {
    if (l3Off === 0) return p;
    const f = new Uint8Array(14 + p.length);
    f.set(devMac, 0);
    f.set(PEER_MAC, 6);
    f[12] = p[0]! >> 4 === 6 ? 0x86 : 0x08;
    f[13] = p[0]! >> 4 === 6 ? 0xdd : 0x00;
    f.set(p, 14);
    return f;
  }

  /** Writes IP packets to the device, each framed and behind an all-zero vnet header. */
  function writePlain(ipPkts: Uint8Array[]): void {
    const pkts = ipPkts.map(frame);
    const mem = h.u8;
    const offsets = new Uint32Array(pkts.length);
    const lengths = new Uint32Array(pkts.length);
    let o = txArea;
    pkts.forEach((p, i) => {
      mem.fill(0, o, o + VNET_LEN);
      mem.set(p, o + VNET_LEN);
      offsets[i] = o;
      lengths[i] = VNET_LEN + p.length;
      o += (VNET_LEN + p.length + 15) & ~15;
    });
    expect(tun.writeBatch(mem, { offsets, lengths, capacity: 0 }, 0, pkts.length)).toBe(pkts.length);
  }

  function rxPackets(): number {
    const j = JSON.parse(fx.ip(["-s", "-j", "link", "show", "dev", tun.name], ns)) as { stats64: { rx: { packets: number } } }[];
    return j[0]!.stats64.rx.packets;
  }

  it.each(FAMILIES)("reads and splits the kernel's TSO super-packets ($kernel)", async (f) => {
    const BYTES = 768 << 10;
    const PORT = (f.v6 ? 5211 : 5201) + l3Off;
    const sender = childIn(ns, SENDER, { host: f.peer, port: PORT, local: f.kernel, bytes: BYTES, timeoutMs: 15000 }, 15000);
    const stats = { reads: 0, gso: 0, gsoSegments: 0, partial: 0, mismatches: 0, bad: 0 };
    const got: Uint8Array[] = [];
    let rcvNxt = 0;
    let synSeen = false;
    let fin = false;
    let theirPort = 0;
    let id = 1;
    const deadline = Date.now() + 15000;
    while (!fin && Date.now() < deadline) {
      const segs = readSegments(stats);
      if (segs.length === 0) {
        await sleep(1);
        continue;
      }
      let ackNeeded = false;
      for (const s of segs) {
        const t = tcpOf(s);
        if (!t || t.dport !== PORT) continue;
        if (t.flags & 0x02) {
          synSeen = true;
          theirPort = t.sport;
          rcvNxt = (t.seq + 1) >>> 0;
          writePlain([build([ipLayer(f, id++), { kind: "tcp", srcPort: PORT, dstPort: theirPort, seq: 1000, ack: rcvNxt, flags: 0x12, window: 65535, urgent: 0, options: Uint8Array.from([2, 4, 0x05, 0xb4]) }])]);
          continue;
        }
        if (!synSeen) continue;
        if (t.seq === rcvNxt && t.payload.length > 0) {
          got.push(t.payload.slice());
          rcvNxt = (rcvNxt + t.payload.length) >>> 0;
        }
        if (t.flags & 0x01 && ((t.seq + t.payload.length) >>> 0) === rcvNxt) {
          rcvNxt = (rcvNxt + 1) >>> 0;
          fin = true;
        }
        ackNeeded = true;
      }
      if (ackNeeded) writePlain([build([ipLayer(f, id++), { kind: "tcp", srcPort: PORT, dstPort: theirPort, seq: 1001, ack: rcvNxt, flags: 0x10, window: 65535, urgent: 0 }])]);
    }
    expect(await sender.done).toEqual({ sent: BYTES });
    const data = Buffer.concat(got);
    expect(fin).toBe(true);
    expect(data.length).toBe(BYTES);
    expect(data.equals(Buffer.from(pattern(BYTES)))).toBe(true);
    expect(stats.mismatches).toBe(0);
    expect(stats.bad).toBe(0);
    // the kernel did use TSO (and CHECKSUM_PARTIAL) towards us
    expect(stats.gso).toBeGreaterThan(0);
    expect(stats.gsoSegments).toBeGreaterThan(stats.gso);
    expect(stats.partial).toBeGreaterThan(0);
  });

  it.each(FAMILIES)("writes coalesced super-packets that the kernel delivers ($kernel)", async (f) => {
    const BYTES = 1 << 20;
    const MSS = 1400;
    const PORT = (f.v6 ? 5212 : 5202) + l3Off;
    const SPORT = 40000;
    const recv = childIn(ns, RECEIVER, { host: f.kernel, port: PORT, bytes: BYTES, timeoutMs: 20000 }, 20000);
    await recv.ready;
    const data = pattern(BYTES);
    const stats = { reads: 0, gso: 0, gsoSegments: 0, partial: 0, mismatches: 0, bad: 0 };
    let id = 100;
    const isn = 5000;
    writePlain([build([ipLayer(f, id++), { kind: "tcp", srcPort: SPORT, dstPort: PORT, seq: isn, ack: 0, flags: 0x02, window: 65535, urgent: 0, options: Uint8Array.from([2, 4, 0x05, 0xb4]) }])]);
    let rcvNxt = -1;
    let una = (isn + 1) >>> 0;
    let window = 0;
    const deadline = Date.now() + 20000;
    while (rcvNxt < 0 && Date.now() < deadline) {
      for (const s of readSegments(stats)) {
        const t = tcpOf(s);
        if (t && t.dport === SPORT && (t.flags & 0x12) === 0x12) {
          rcvNxt = (t.seq + 1) >>> 0;
          window = t.window;
        }
      }
      await sleep(1);
    }
    expect(rcvNxt).toBeGreaterThanOrEqual(0);
    const ackLayer = () => ({ kind: "tcp" as const, srcPort: SPORT, dstPort: PORT, seq: una, ack: rcvNxt, flags: 0x10, window: 65535, urgent: 0 });
    writePlain([build([ipLayer(f, id++), ackLayer()])]);
    const rx0 = rxPackets();
    let writes = 0;
    let superPackets = 0;
    let segments = 0;
    let sent = 0; // bytes acknowledged
    let retransmits = 0;
    while (sent < BYTES && Date.now() < deadline) {
      // one round: as many MSS segments as the window allows (at most 64 KiB), coalesced, written
      const room = Math.min(window || 65535, 60000, BYTES - sent);
      const segs: Uint8Array[] = [];
      for (let off = 0; off < room; off += MSS) {
        const len = Math.min(MSS, room - off);
        const seq = (isn + 1 + sent + off) >>> 0;
        segs.push(build([ipLayer(f, id++), { kind: "tcp", srcPort: SPORT, dstPort: PORT, seq, ack: rcvNxt, flags: off + len >= room ? 0x18 : 0x10, window: 65535, urgent: 0 }, { kind: "payload", bytes: data.subarray(sent + off, sent + off + len) }]));
      }
      segments += segs.length;
      h.placeInputs(segs.map(frame));
      const n = h.ex.groCoalesce(h.inOffs, h.inLens, segs.length, l3Off, h.groOut, OffloadHarness.GRO_BYTES, h.outOffs, h.outLens, 0);
      expect(n).toBeGreaterThan(0);
      const offsets = new Uint32Array(h.u32.subarray(h.outOffs >> 2, (h.outOffs >> 2) + n));
      const lengths = new Uint32Array(h.u32.subarray(h.outLens >> 2, (h.outLens >> 2) + n));
      for (let k = 0; k < n; k++) if (h.u8[offsets[k]! + 1] !== 0) superPackets++;
      expect(tun.writeBatch(h.u8, { offsets, lengths, capacity: 0 }, 0, n)).toBe(n);
      writes += n;
      // wait for the ACK of the whole round
      const want = (isn + 1 + sent + room) >>> 0;
      const roundDeadline = Date.now() + 2000;
      let acked = false;
      while (!acked && Date.now() < roundDeadline) {
        for (const s of readSegments(stats)) {
          const t = tcpOf(s);
          if (t && t.dport === SPORT && (t.flags & 0x10) && t.ack === want) {
            acked = true;
            window = t.window;
          }
        }
        if (!acked) await sleep(1);
      }
      if (acked) {
        sent += room;
        una = want;
      } else {
        retransmits++;
        if (retransmits > 3) break;
      }
    }
    const r = (await recv.done) as { received: number; sha: string };
    expect(r.received).toBe(BYTES);
    expect(r.sha).toBe(createHash("sha256").update(data).digest("hex"));
    expect(retransmits).toBe(0);
    expect(superPackets).toBeGreaterThan(0);
    expect(superPackets).toBeLessThan(segments / 10);
    // the kernel counted one received packet per write: the super-packets went up whole
    expect(rxPackets() - rx0).toBe(writes);
  });
});
