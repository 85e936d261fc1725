// USO (GSO_UDP_L4) against the real Linux stack: a TUN and a TAP opened with IFF_VNET_HDR and
// TUNSETOFFLOAD(CSUM | TSO4 | TSO6 | TSO_ECN | USO4 | USO6) in a private namespace. A python3
// sender there uses UDP_SEGMENT (setsockopt(SOL_UDP, 103, gso_size), Linux 4.18+) and sends the
// same datagrams twice:
//   - to a peer behind the TUN/TAP that this test plays: the kernel hands the device GSO_UDP_L4
//     super-packets (Linux 6.2+ with TUN_F_USO*), which tsoSplit cuts (checked against the
//     reference, every checksum verified);
//   - over a veth to a plain UDP socket in a second namespace, where the kernel itself segments
//     them (__udp_gso_segment): the datagrams that receiver gets (length and SHA-256 each, in
//     order) must be exactly the ones the Wasm split produced, and the ones the sender meant.
// Needs root, iproute2, python3, /dev/net/tun, a kernel with TUN_F_USO4/6 and the native addon.
import { readFileSync, existsSync } from "node:fs";
import { createHash } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { OffloadHarness, referenceSplit, parseVnet, GsoType, OFFLOAD_REASON_COUNT, OffloadEvent } from "./reference/offload.ts";
import { verifyChecksum, internetChecksum, pseudoHeaderSum4, pseudoHeaderSum6 } from "./reference/checksum.ts";
import { canUseNetns, NetnsFixture } from "../host/io/testing/netns.ts";
import { loadNative, nativeAvailable } from "../host/native/index.ts";
import { openTun, type LinuxTunDevice } from "../host/io/linux/tun.ts";
import { runIn } from "../host/io/testing/children.ts";
import { describeRequiring } from "./helpers/require.ts";

const usable = canUseNetns() && nativeAvailable() && existsSync("/usr/bin/python3");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const GSO_SIZE = 1200;
/** Bytes per sendto(): multiples of GSO_SIZE, short last segments, and two that fit one segment (no GSO). */
const SENDS = [12000, 12001, 30000 + 17, 1200, 700, 47 * 1000 + 3, 2 * 1200 + 1, 24000, 50 * 1200, 5555];
/** Datagram i's bytes (the sender computes the same). */
const content = (i: number, n: number) => Uint8Array.from({ length: n }, (_, j) => (i * 31 + j * 7 + (j >> 8)) & 0xff);

// python3: one UDP socket per destination, UDP_SEGMENT on it, SENDS to each (the same bytes)
const SENDER_PY = `
import json, socket, sys
o = json.loads(sys.argv[1])
fam = socket.AF_INET6 if o["v6"] else socket.AF_INET
for dst in o["dsts"]:
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((o["src"], 0))
    s.setsockopt(17, 103, o["gso"])  # SOL_UDP, UDP_SEGMENT
    for i, n in enumerate(o["sizes"]):
        b = bytes(((i * 31 + j * 7 + (j >> 8)) & 0xff) for j in range(n))
        s.sendto(b, (dst, o["port"]))
    s.close()
print(json.dumps({"sent": len(o["sizes"]) * len(o["dsts"])}))
`;

const RECEIVER = `
const dgram = require("node:dgram");
const crypto = require("node:crypto");
const o = JSON.parse(process.argv[process.argv.length - 1]);
const s = dgram.createSocket({ type: o.v6 ? "udp6" : "udp4", recvBufferSize: 8 << 20 });
const got = [];
const finish = () => { console.log(JSON.stringify(got)); process.exit(0); };
s.on("message", (m) => { got.push([m.length, crypto.createHash("sha256").update(m).digest("hex")]); if (got.length === o.count) finish(); });
s.bind(o.port, o.host, () => console.log("ready"));
setTimeout(finish, o.timeoutMs);`;

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const be16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;

const KINDS = [
  { kind: "tun" as const, l3Off: 0, net: "10.81.0", net6: "fd00:81::", rx: "10.82.0", rx6: "fd00:82::" },
  { kind: "tap" as const, l3Off: 14, net: "10.83.0", net6: "fd00:83::", rx: "10.84.0", rx6: "fd00:84::" },
];
const PEER_MAC = "02:81:00:00:00:02";

for (const { kind, l3Off, net, net6, rx, rx6 } of KINDS) describeRequiring(!usable && ["root with network namespaces", "the native addon", "python3"])(`USO against the kernel (${kind} with IFF_VNET_HDR, TUN_F_USO4|USO6)`, () => {
  const fx = new NetnsFixture();
  let ns = "";
  let nsRx = "";
  let dev: LinuxTunDevice;
  let h: OffloadHarness;
  let big = 0;
  const READ_SLOTS = 32;
  const READ_CAP = 65536 + 64;

  beforeAll(() => {
    if (!usable) return;
    ns = fx.addNetns(`u${kind}`, { ipv6: true }).name;
    nsRx = fx.addNetns(`r${kind}`, { ipv6: true }).name;
    dev = openTun({ kind, name: fx.name(kind), netns: `/var/run/netns/${ns}`, vnetHdr: true });
    const n = loadNative();
    // no fallback here: this suite is about a kernel that has USO (6.2+)
    n.tunSetOffload(dev.fd, n.TUN_F.CSUM! | n.TUN_F.TSO4! | n.TUN_F.TSO6! | n.TUN_F.TSO_ECN! | n.TUN_F.USO4! | n.TUN_F.USO6!);
    fx.ip(["addr", "add", `${net}.1/24`, "dev", dev.name], ns);
    fx.ip(["-6", "addr", "add", `${net6}1/64`, "dev", dev.name, "nodad"], ns);
    fx.ip(["link", "set", "dev", dev.name, "up"], ns);
    if (kind === "tap") {
      fx.ip(["neigh", "add", `${net}.2`, "lladdr", PEER_MAC, "dev", dev.name, "nud", "permanent"], ns);
      fx.ip(["-6", "neigh", "add", `${net6}2`, "lladdr", PEER_MAC, "dev", dev.name, "nud", "permanent"], ns);
    }
    const va = fx.name(`va${kind[1]}`);
    const vb = fx.name(`vb${kind[1]}`);
    fx.addVeth(va, ns, vb, nsRx);
    fx.ip(["addr", "add", `${rx}.1/24`, "dev", va], ns);
    fx.ip(["-6", "addr", "add", `${rx6}1/64`, "dev", va, "nodad"], ns);
    fx.ip(["link", "set", "dev", va, "up"], ns);
    fx.ip(["addr", "add", `${rx}.2/24`, "dev", vb], nsRx);
    fx.ip(["-6", "addr", "add", `${rx6}2/64`, "dev", vb, "nodad"], nsRx);
    fx.ip(["link", "set", "dev", vb, "up"], nsRx);
    h = new OffloadHarness(new Uint8Array(readFileSync("build/weft.wasm")));
    big = h.ex.offloadAlloc(READ_SLOTS * READ_CAP);
  });
  afterAll(() => {
    dev?.close();
    fx.cleanup();
  });

  /** A UDP segment's payload, its destination port; checks IP and UDP lengths and checksums. */
  function udpOf(s: Uint8Array): { dport: number; payload: Uint8Array; ok: boolean } | undefined {
    const v6 = s[0]! >> 4 === 6;
    if (v6) {
      if (s[6] !== 17) return undefined;
      const u = s.subarray(40);
      const ok = 40 + be16(s, 4) === s.length && be16(u, 4) === u.length && be16(u, 6) !== 0
        && verifyChecksum(u, 0, u.length, pseudoHeaderSum6(s.subarray(8, 24), s.subarray(24, 40), 17, u.length));
      return { dport: be16(u, 2), payload: u.subarray(8), ok };
    }
    if (s[9] !== 17) return undefined;
    const ihl = (s[0]! & 15) * 4;
    const u = s.subarray(ihl);
    const ok = be16(s, 2) === s.length && internetChecksum(s, 0, ihl) === 0 && be16(u, 4) === u.length && be16(u, 6) !== 0
      && verifyChecksum(u, 0, u.length, pseudoHeaderSum4(s.subarray(12, 16), s.subarray(16, 20), 17, u.length));
    return { dport: be16(u, 2), payload: u.subarray(8), ok };
  }

  it.each([{ v6: false }, { v6: true }])("GSO_UDP_L4 reads split into exactly the datagrams a receiver gets (v6: $v6)", async ({ v6 }) => {
    const PORT = 4433 + (v6 ? 1 : 0) + l3Off;
    const want = SENDS.flatMap((n, i) => {
      const b = content(i, n);
      const out: [number, string][] = [];
      for (let o = 0; o < n; o += GSO_SIZE) out.push([Math.min(GSO_SIZE, n - o), sha(b.subarray(o, Math.min(n, o + GSO_SIZE)))]);
      return out;
    });
    const receiver = runIn(nsRx, RECEIVER, { v6, host: v6 ? `${rx6}2` : `${rx}.2`, port: PORT, count: want.length, timeoutMs: 15000 }, 15000, true);
    await receiver.ready;
    const before = h.counters();
    const out = fx.exec(ns, ["/usr/bin/python3", "-c", SENDER_PY, JSON.stringify({
      v6, src: v6 ? "::" : "0.0.0.0", dsts: v6 ? [`${net6}2`, `${rx6}2`] : [`${net}.2`, `${rx}.2`], port: PORT, gso: GSO_SIZE, sizes: SENDS,
    })], { timeoutMs: 20000 });
    expect(JSON.parse(out.trim())).toEqual({ sent: 2 * SENDS.length });

    // the TUN/TAP side: read until every datagram is there (or 10 s)
    const stats = { reads: 0, uso: 0, usoSegments: 0, partial: 0, mismatches: 0, bad: 0 };
    const got: [number, string][] = [];
    const deadline = Date.now() + 10000;
    while (got.length < want.length && Date.now() < deadline) {
      const offsets = new Uint32Array(READ_SLOTS).map((_, i) => big + i * READ_CAP);
      const lengths = new Uint32Array(READ_SLOTS);
      const n = dev.readBatch(h.u8, { offsets, lengths, capacity: READ_CAP }, 0, READ_SLOTS);
      if (n === 0) { await sleep(1); continue; }
      for (let i = 0; i < n; i++) {
        stats.reads++;
        const input = h.u8.slice(offsets[i]!, offsets[i]! + lengths[i]!);
        const vh = parseVnet(input);
        const segs = h.split(input, l3Off, 128, 4000);
        if (typeof segs === "number") throw new Error(`tsoSplit refused a kernel packet: reason ${segs}, vnet ${JSON.stringify(vh)}`);
        const ref = referenceSplit(input, l3Off, 128, 4000);
        if (typeof ref === "number" || ref.length !== segs.length || ref.some((r, k) => Buffer.compare(r, segs[k]!) !== 0)) stats.mismatches++;
        if (vh.gsoType === GsoType.UdpL4) {
          stats.uso++;
          stats.usoSegments += segs.length;
          if (vh.flags & 1) stats.partial++;
          expect(vh.gsoSize).toBe(GSO_SIZE);
        }
        for (const f of segs) {
          if (l3Off === 14 && f[12] !== 0x08 && f[12] !== 0x86) continue;
          const u = udpOf(f.subarray(l3Off));
          if (!u || u.dport !== PORT) continue;
          if (!u.ok) stats.bad++;
          got.push([u.payload.length, sha(u.payload)]);
        }
      }
    }
    const received = (await receiver.done) as [number, string][];
    expect(got.length).toBe(want.length);
    expect(got).toEqual(want);
    expect(received).toEqual(want); // what the kernel's own segmentation delivered to a socket
    expect(stats.mismatches).toBe(0);
    expect(stats.bad).toBe(0);
    // the kernel used USO towards us: one read per sendto() larger than gso_size, CHECKSUM_PARTIAL
    const gsoSends = SENDS.filter((n) => n > GSO_SIZE).length;
    expect(stats.uso).toBe(gsoSends);
    expect(stats.partial).toBe(gsoSends);
    expect(stats.usoSegments).toBe(SENDS.filter((n) => n > GSO_SIZE).reduce((s, n) => s + Math.ceil(n / GSO_SIZE), 0));
    const after = h.counters();
    expect(Number(after[OFFLOAD_REASON_COUNT + OffloadEvent.SplitUso]! - before[OFFLOAD_REASON_COUNT + OffloadEvent.SplitUso]!)).toBe(gsoSends);
  });
});
