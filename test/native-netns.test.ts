// The native addon against the real kernel stack in namespaces (root only): TAP and TUN devices
// with traffic from and to kernel sockets, and the underlay between two namespaces over veth.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { moveLink } from "../host/io/linux/netns.ts";
import { openPacketSocket } from "../host/io/linux/packet.ts";
import { openTun, type LinuxTunDevice } from "../host/io/linux/tun.ts";
import { openUnderlay } from "../host/io/linux/underlay.ts";
import type { PacketBatchIO, SlotList } from "../host/io/types.ts";
import { udpReceiverIn, udpSenderIn } from "../host/io/testing/children.ts";
import { makeMemory, readUntil, waitReadable } from "../host/io/testing/compliance.ts";
import { canUseNetns, NetnsFixture, snmpCounter } from "../host/io/testing/netns.ts";
import { parseUdp, payloadSeq, seqPayload, writeEthernet, writeUdp } from "../host/io/testing/packets.ts";
import { loadNative } from "../host/native/index.ts";
import { describeRequiring } from "./helpers/require.ts";

const root = canUseNetns();
if (root) loadNative();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Reads from `io` until `want` packets satisfied `pick` (others are skipped) or `timeoutMs` passed. */
function collect<T>(io: PacketBatchIO, mem: Uint8Array, slots: SlotList, want: number, timeoutMs: number,
  pick: (offset: number, length: number) => T | undefined): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const out: T[] = [];
    const finish = (): void => {
      clearTimeout(timer);
      io.onReadable(null);
      resolve(out);
    };
    const timer = setTimeout(finish, timeoutMs);
    io.onReadable(() => {
      try {
        const n = io.readBatch(mem, slots, 0, slots.offsets.length);
        for (let i = 0; i < n && out.length < want; i++) {
          const v = pick(slots.offsets[i]!, slots.lengths[i]!);
          if (v !== undefined) out.push(v);
        }
      } catch (e) {
        clearTimeout(timer);
        io.onReadable(null);
        reject(e);
        return;
      }
      if (out.length >= want) finish();
    });
  });
}

const ROUTER_MAC = "02:00:00:00:01:01";

describeRequiring(!root)("TAP in a pod namespace", () => {
  const fx = new NetnsFixture();
  let tap: LinuxTunDevice;
  let pod: string;
  let podMac: string;

  beforeAll(() => {
    const node = fx.addNetns("n");
    pod = fx.addNetns("p").name;
    // Created in the node namespace, then moved: the fd stays valid across the move.
    tap = openTun({ kind: "tap", name: fx.name("tap"), netns: node.path });
    expect(fx.ip(["link", "show", "dev", tap.name], node.name)).toContain(tap.name);
    moveLink(tap.name, pod, node.name);
    fx.ip(["addr", "add", "10.213.0.2/24", "dev", tap.name], pod);
    fx.ip(["link", "set", "dev", tap.name, "up"], pod);
    fx.ip(["neigh", "replace", "10.213.0.1", "lladdr", ROUTER_MAC, "dev", tap.name, "nud", "permanent"], pod);
    podMac = fx.mac(tap.name, pod);
  });
  afterAll(() => {
    tap?.close();
    fx.cleanup();
  });

  it("reads 256 frames the pod's stack sent, in one batch call", async () => {
    const sender = udpSenderIn(pod, { family: 4, address: "10.213.0.1", port: 9999, count: 256, size: 64, sport: 5555 });
    expect(await sender.done).toEqual({ sent: 256 });
    expect(await waitReadable(tap)).toBe(true);
    const { mem, rx } = makeMemory();
    expect(tap.readBatch(mem, rx, 0, 256)).toBe(256);
    for (let i = 0; i < 256; i++) {
      const o = rx.offsets[i]!;
      expect(rx.lengths[i]).toBe(14 + 28 + 64);
      expect(Buffer.from(mem.subarray(o, o + 6)).toString("hex")).toBe(ROUTER_MAC.replaceAll(":", ""));
      expect((mem[o + 12]! << 8) | mem[o + 13]!).toBe(0x0800);
      const p = parseUdp(mem, o + 14, rx.lengths[i]! - 14);
      expect([p.src, p.dst, p.sport, p.dport]).toEqual(["10.213.0.2", "10.213.0.1", 5555, 9999]);
      expect(payloadSeq(p.payload)).toBe(i);
    }
    expect(tap.readBatch(mem, rx, 0, 256)).toBe(0);
  });

  it("writes a batch of 256 frames that the pod's stack delivers to a socket", async () => {
    const recv = udpReceiverIn(pod, { family: 4, address: "10.213.0.2", port: 9998, count: 256, timeoutMs: 3000 });
    await recv.ready;
    const { mem, tx } = makeMemory();
    for (let i = 0; i < 256; i++) {
      const o = tx.offsets[i]!;
      writeEthernet(mem, o, podMac, ROUTER_MAC, 0x0800);
      tx.lengths[i] = 14 + writeUdp(mem, o + 14, { src: "10.213.0.1", dst: "10.213.0.2", sport: 7777, dport: 9998, payload: seqPayload(i, 64) });
    }
    expect(tap.writeBatch(mem, tx, 0, 256)).toBe(256);
    const r = (await recv.done) as { count: number; seqs: number[]; from: { address: string; port: number } };
    expect(r.count).toBe(256);
    expect(r.seqs).toEqual([...Array(256).keys()]);
    expect(r.from).toMatchObject({ address: "10.213.0.1", port: 7777 });
  });
});

describeRequiring(!root)("TUN as the host port", () => {
  const fx = new NetnsFixture();
  let tun: LinuxTunDevice;
  let node: string;

  beforeAll(() => {
    const n = fx.addNetns("n");
    node = n.name;
    tun = openTun({ kind: "tun", name: fx.name("tun"), netns: n.path });
    fx.ip(["addr", "add", "10.214.0.1/24", "dev", tun.name], node);
    fx.ip(["link", "set", "dev", tun.name, "up"], node);
  });
  afterAll(() => {
    tun?.close();
    fx.cleanup();
  });

  it("reads 256 IP packets routed into the TUN, in one batch call, without a packet-info header", async () => {
    const sender = udpSenderIn(node, { family: 4, address: "10.214.0.2", port: 9999, count: 256, size: 64, sport: 5556 });
    expect(await sender.done).toEqual({ sent: 256 });
    expect(await waitReadable(tun)).toBe(true);
    const { mem, rx } = makeMemory();
    expect(tun.readBatch(mem, rx, 0, 256)).toBe(256);
    for (let i = 0; i < 256; i++) {
      const p = parseUdp(mem, rx.offsets[i]!, rx.lengths[i]!);
      expect([p.src, p.dst, p.sport, p.dport, p.ipChecksumOk]).toEqual(["10.214.0.1", "10.214.0.2", 5556, 9999, true]);
      expect(payloadSeq(p.payload)).toBe(i);
    }
  });

  it("writes 256 IP packets that the node's stack delivers to a socket", async () => {
    const recv = udpReceiverIn(node, { family: 4, address: "10.214.0.1", port: 9998, count: 256, timeoutMs: 3000 });
    await recv.ready;
    const { mem, tx } = makeMemory();
    for (let i = 0; i < 256; i++)
      tx.lengths[i] = writeUdp(mem, tx.offsets[i]!, { src: "10.214.0.2", dst: "10.214.0.1", sport: 7778, dport: 9998, payload: seqPayload(i, 64), udpChecksum: true });
    expect(tun.writeBatch(mem, tx, 0, 256)).toBe(256);
    const r = (await recv.done) as { count: number; seqs: number[]; from: { address: string; port: number } };
    expect(r.count).toBe(256);
    expect(r.seqs).toEqual([...Array(256).keys()]);
    expect(r.from).toMatchObject({ address: "10.214.0.2", port: 7778 });
  });

  it("counts a packet the TUN rejects (not IP) as a per-packet error and writes the rest", () => {
    const { mem, tx } = makeMemory();
    for (let i = 0; i < 3; i++)
      tx.lengths[i] = writeUdp(mem, tx.offsets[i]!, { src: "10.214.0.2", dst: "10.214.0.1", sport: 1, dport: 9, payload: seqPayload(i, 8) });
    mem[tx.offsets[1]!] = 0x10;  // version 1: EINVAL from the TUN driver
    const before = tun.stats.errors;
    expect(tun.writeBatch(mem, tx, 0, 3)).toBe(3);
    expect(tun.stats.errors - before).toBe(1);
    expect(tun.stats.lastErrno).toBe(22);
  });
});

describeRequiring(!root)("Underlay between two namespaces over veth", () => {
  const fx = new NetnsFixture();
  let A: { name: string; path: string };
  let B: { name: string; path: string };
  let va: string;
  let vb: string;

  beforeAll(() => {
    A = fx.addNetns("a", { ipv6: true });
    B = fx.addNetns("b", { ipv6: true });
    va = fx.name("va");
    vb = fx.name("vb");
    fx.addVeth(va, A.name, vb, B.name);
    for (const [ns, dev, a4, a6] of [[A.name, va, "198.19.0.1", "fd00:7775::1"], [B.name, vb, "198.19.0.2", "fd00:7775::2"]] as const) {
      fx.ip(["addr", "add", `${a4}/24`, "dev", dev], ns);
      fx.ip(["addr", "add", `${a6}/64`, "dev", dev, "nodad"], ns);
      fx.ip(["link", "set", dev, "up"], ns);
    }
    const macA = fx.mac(va, A.name);
    const macB = fx.mac(vb, B.name);
    fx.ip(["neigh", "replace", "198.19.0.2", "lladdr", macB, "dev", va, "nud", "permanent"], A.name);
    fx.ip(["neigh", "replace", "fd00:7775::2", "lladdr", macB, "dev", va, "nud", "permanent"], A.name);
    fx.ip(["neigh", "replace", "198.19.0.1", "lladdr", macA, "dev", vb, "nud", "permanent"], B.name);
    fx.ip(["neigh", "replace", "fd00:7775::1", "lladdr", macA, "dev", vb, "nud", "permanent"], B.name);
  });
  afterAll(() => fx.cleanup());

  const counters = (): number[] => [
    snmpCounter(fx, B.name, "Icmp", "OutDestUnreachs"),
    snmpCounter(fx, B.name, "Icmp6", "OutDestUnreachs"),
    snmpCounter(fx, B.name, "Udp", "InErrors"),
    snmpCounter(fx, B.name, "Udp", "InCsumErrors"),
    snmpCounter(fx, B.name, "Udp6", "InErrors"),
    snmpCounter(fx, B.name, "Udp6", "InCsumErrors"),
  ];

  it("carries 128 IPv4 + 128 IPv6 full packets to port 8472 in one batch: headers as sent, no ICMP, no UDP errors", async () => {
    const a = openUnderlay({ netns: A.path, port: 8472 });
    const b = openUnderlay({ netns: B.path, port: 8472 });
    const wire = openPacketSocket(vb, { netns: B.path });
    try {
      expect(b.buffers.rcvbuf).toBeGreaterThanOrEqual(8 << 20);  // forced 4-8 MiB buffers as root
      const before = counters();
      const { mem, rx, tx } = makeMemory();
      for (let i = 0; i < 256; i++) {
        const v6 = i % 2 === 1;
        tx.lengths[i] = writeUdp(mem, tx.offsets[i]!, {
          src: v6 ? "fd00:7775::1" : "198.19.0.1", dst: v6 ? "fd00:7775::2" : "198.19.0.2",
          sport: 49152 + ((i * 2654435761) >>> 0) % 16384, dport: 8472, ttl: 64, payload: seqPayload(i, 64), udpChecksum: true,
        });
      }
      expect(a.sendBatch(mem, tx, 0, 256)).toBe(256);
      expect(a.stats.errors).toBe(0);
      expect(a.stats.syscalls).toBeLessThanOrEqual(256);  // runs of one family per sendmmsg
      expect(await readUntil(b, mem, rx, 256)).toBe(256);
      const got = new Map<number, ReturnType<typeof parseUdp>>();
      for (let i = 0; i < 256; i++) {
        const p = parseUdp(mem, rx.offsets[i]!, rx.lengths[i]!);
        got.set(payloadSeq(p.payload), p);
      }
      for (let i = 0; i < 256; i++) {
        const p = got.get(i)!;
        expect(p.version).toBe(i % 2 === 1 ? 6 : 4);
        expect(p.sport).toBe(49152 + ((i * 2654435761) >>> 0) % 16384);
        expect(p.dport).toBe(8472);
        expect(p.ipChecksumOk && p.udpChecksumOk).toBe(true);
      }
      // The wire view (AF_PACKET on B's veth) shows the same source ports, as the sender wrote them.
      // Other frames (IPv6 MLD reports of the fresh links) may be interleaved: skip them.
      const w = makeMemory();
      const wireSeen = await collect(wire, w.mem, w.rx, 256, 2000, (o, len) => {
        const et = (w.mem[o + 12]! << 8) | w.mem[o + 13]!;
        const proto = et === 0x0800 ? w.mem[o + 14 + 9] : et === 0x86dd ? w.mem[o + 14 + 6] : -1;
        if (proto !== 17) return undefined;
        const p = parseUdp(w.mem, o + 14, len - 14);
        return p.dport === 8472 ? p : undefined;
      });
      expect(wireSeen.length).toBe(256);
      for (const p of wireSeen) {
        const seq = payloadSeq(p.payload);
        expect(p.sport).toBe(49152 + ((seq * 2654435761) >>> 0) % 16384);
        expect(p.udpChecksumOk).toBe(true);
      }
      await sleep(50);
      expect(counters()).toEqual(before);

      // Control: with nobody bound to the port, the same kernel does answer port unreachable.
      b.close();
      tx.lengths[0] = writeUdp(mem, tx.offsets[0]!, { src: "198.19.0.1", dst: "198.19.0.2", sport: 1234, dport: 8472, payload: seqPayload(0, 8) });
      expect(a.sendBatch(mem, tx, 0, 1)).toBe(1);
      await sleep(50);
      expect(counters()[0]).toBe(before[0]! + 1);
    } finally {
      wire.close();
      a.close();
      b.close();
    }
  });

  it("counts datagrams the kernel dropped at a full receive queue (SO_RXQ_OVFL)", async () => {
    const a = openUnderlay({ netns: A.path, port: 8472, ipv6: false });
    const b = openUnderlay({ netns: B.path, port: 8472, ipv6: false, rcvbuf: 32 << 10 });
    try {
      const { mem, rx, tx } = makeMemory();
      for (let i = 0; i < 256; i++)
        tx.lengths[i] = writeUdp(mem, tx.offsets[i]!, { src: "198.19.0.1", dst: "198.19.0.2", sport: 40001, dport: 8472, payload: seqPayload(i, 64) });
      for (let k = 0; k < 4; k++) expect(a.sendBatch(mem, tx, 0, 256)).toBe(256);
      await sleep(50);
      let got = 0;
      for (let r; (r = b.recvBatch(mem, rx, 0, 256)) > 0; ) got += r;
      expect(got).toBeLessThan(1024);
      expect(b.stats.kernelDrops).toBe(0);  // reported with the next datagram queued after the drops
      expect(a.sendBatch(mem, tx, 0, 1)).toBe(1);
      expect(await readUntil(b, mem, rx, 1)).toBe(1);
      expect(b.stats.packets + b.stats.kernelDrops).toBe(1025);
    } finally {
      a.close();
      b.close();
    }
  });

  it("stops on EAGAIN when the send buffer is full and resumes after onWritable", async () => {
    // A slow qdisc on A's veth keeps packets (and their send-buffer charge) queued.
    fx.exec(A.name, ["tc", "qdisc", "replace", "dev", va, "root", "tbf", "rate", "2mbit", "burst", "4kb", "limit", "1mb"]);
    const a = openUnderlay({ netns: A.path, port: 8472, ipv6: false, sndbuf: 4096 });
    const b = openUnderlay({ netns: B.path, port: 8472, ipv6: false });
    try {
      const { mem, rx, tx } = makeMemory();
      for (let i = 0; i < 256; i++)
        tx.lengths[i] = writeUdp(mem, tx.offsets[i]!, { src: "198.19.0.1", dst: "198.19.0.2", sport: 40000, dport: 8472, payload: seqPayload(i, 100) });
      let sent = a.sendBatch(mem, tx, 0, 256);
      expect(sent).toBeLessThan(256);
      expect(a.stats.wouldBlock).toBe(1);
      const deadline = Date.now() + 10_000;
      while (sent < 256 && Date.now() < deadline) {
        await new Promise<void>((r) => a.onWritable(r));
        sent += a.sendBatch(mem, tx, sent, 256 - sent);
      }
      expect(sent).toBe(256);
      expect(a.stats.errors).toBe(0);
      expect(await readUntil(b, mem, rx, 256, 5000)).toBe(256);
      // Every datagram exactly once. Not necessarily in order: the tbf qdisc dequeues from timer
      // softirqs on either CPU, and veth hands each packet to the backlog of the CPU it runs on.
      const seqs = Array.from({ length: 256 }, (_, i) => payloadSeq(parseUdp(mem, rx.offsets[i]!, rx.lengths[i]!).payload));
      expect(seqs.sort((x, y) => x - y)).toEqual(Array.from({ length: 256 }, (_, i) => i));
    } finally {
      a.close();
      b.close();
      fx.exec(A.name, ["tc", "qdisc", "del", "dev", va, "root"]);
    }
  });
});
