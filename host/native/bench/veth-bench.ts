// Batch vs per-packet I/O rates of the native addon, 64-byte payloads, in throwaway namespaces.
// Run as root: node --import tsx host/native/bench/veth-bench.ts [seconds-per-case, default 1]
// Prints a Markdown table (docs/NATIVE.md keeps the last results). Every case is bounded in time.
import { openPacketSocket } from "../../io/linux/packet.ts";
import { openTun } from "../../io/linux/tun.ts";
import { openUnderlay, type LinuxUnderlay } from "../../io/linux/underlay.ts";
import { uniformSlots } from "../../io/slots.ts";
import { canUseNetns, NetnsFixture } from "../../io/testing/netns.ts";
import { seqPayload, writeEthernet, writeUdp } from "../../io/testing/packets.ts";
import { loadNative } from "../index.ts";
import type { SlotList } from "../../io/types.ts";

const SECONDS = Number(process.argv[2] ?? 1);
const BATCH = 256;
const n = loadNative();
const mem = new Uint8Array(2 * BATCH * 2048 + 4096);
const rx = uniformSlots(BATCH, 4096, 2048, 128);
const tx = uniformSlots(BATCH, 4096 + BATCH * 2048, 2048, 128);
const rows: string[] = [];

function row(what: string, mode: string, pkts: number, secs: number, syscalls: number): void {
  const pps = pkts / secs;
  rows.push(`| ${what} | ${mode} | ${(pps / 1e6).toFixed(3)} Mpps | ${(1e9 / pps).toFixed(0)} ns | ${(syscalls / Math.max(pkts, 1)).toFixed(3)} |`);
}

/** Runs `step` (returns packets moved) repeatedly for SECONDS; returns [packets, seconds]. */
function timed(step: () => number): [number, number] {
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(Math.round(SECONDS * 1e9));
  let pkts = 0;
  let now = t0;
  while (now < end) {
    for (let k = 0; k < 16; k++) pkts += step();
    now = process.hrtime.bigint();
  }
  return [pkts, Number(now - t0) / 1e9];
}

function fillUdp(slots: SlotList, v6: boolean): void {
  for (let i = 0; i < BATCH; i++)
    slots.lengths[i] = writeUdp(mem, slots.offsets[i]!, {
      src: v6 ? "fd00:7776::1" : "198.19.1.1", dst: v6 ? "fd00:7776::2" : "198.19.1.2",
      sport: 49152 + i, dport: 8472, payload: seqPayload(i, 64), udpChecksum: true,
    });
}

function underlayCases(a: LinuxUnderlay, b: LinuxUnderlay): void {
  for (const v6 of [false, true]) {
    const fam = v6 ? "IPv6" : "IPv4";
    fillUdp(tx, v6);
    // Forward path in one thread: send a batch, then receive what arrived (veth delivers
    // synchronously on the sending CPU, so the datagrams are there when sendmmsg returns).
    for (const [mode, per] of [["batch 256 (sendmmsg + recvmmsg)", BATCH], ["1 per call (JS→native per packet)", 1]] as const) {
      while (b.recvBatch(mem, rx, 0, BATCH) > 0);
      const s0 = a.stats.syscalls + b.stats.syscalls;
      const [pkts, secs] = timed(() => {
        a.sendBatch(mem, tx, 0, per);
        return b.recvBatch(mem, rx, 0, per);  // one receive call per send call
      });
      row(`underlay ${fam} send+recv, 64 B payload`, mode, pkts, secs, a.stats.syscalls + b.stats.syscalls - s0);
    }
    // Send side alone (receiver not drained: the kernel drops at the full socket, on this CPU).
    for (const [mode, per, flags] of [["sendmmsg, 256 per call", BATCH, 0], ["sendmsg per packet, 256 per call", BATCH, n.SEND.ONE_BY_ONE], ["1 per call", 1, 0]] as const) {
      const s0 = a.stats.syscalls;
      const [pkts, secs] = timed(() => n.sendBatch(a.fds.tx4, a.fds.tx6, mem, tx.offsets, null, tx.lengths, 0, per, a.stats.array, flags));
      row(`underlay ${fam} send only`, mode, pkts, secs, a.stats.syscalls - s0);
    }
    // Receive side alone: fill the socket, then time draining it.
    for (const [mode, per, flags] of [["recvmmsg, 256 per call", BATCH, 0], ["recvmsg per packet, 256 per call", BATCH, n.RECV.ONE_BY_ONE], ["1 per call", 1, 0]] as const) {
      let pkts = 0;
      let ns = 0n;
      let sys = 0;
      const deadline = Date.now() + SECONDS * 1000;
      while (Date.now() < deadline) {
        while (b.recvBatch(mem, rx, 0, BATCH) > 0);  // empty
        for (let k = 0; k < 32; k++) a.sendBatch(mem, tx, 0, BATCH);  // 8192 queued (rcvbuf 16 MiB)
        const fd = v6 ? b.fds.rx6 : b.fds.rx4;
        const s0 = b.stats.syscalls;
        const t0 = process.hrtime.bigint();
        for (;;) {
          const r = n.recvBatch(fd, mem, rx.offsets, rx.capacity, rx.lengths, 0, per, b.stats.array, v6 ? 6 : 4, 8472, flags);
          if (r === 0) break;
          pkts += r;
        }
        ns += process.hrtime.bigint() - t0;
        sys += b.stats.syscalls - s0;
      }
      row(`underlay ${fam} recv only (+header synthesis)`, mode, pkts, Number(ns) / 1e9, sys);
    }
  }
}

function tapCases(fx: NetnsFixture, ns: { name: string; path: string }): void {
  const tap = openTun({ kind: "tap", name: fx.name("tap"), netns: ns.path });
  fx.ip(["link", "set", "dev", tap.name, "up", "txqueuelen", "10000"], ns.name);
  const peer = openPacketSocket(tap.name, { netns: ns.path, rcvbuf: 64 << 20 });
  try {
    for (let i = 0; i < BATCH; i++) {
      const o = tx.offsets[i]!;
      writeEthernet(mem, o, "02:00:00:00:00:02", "02:00:00:00:00:01", 0x88b5);
      mem.set(seqPayload(i, 64), o + 14);
      tx.lengths[i] = 14 + 64;
    }
    // Write into the TAP (the pod's stack receives and drops the frames: unknown ethertype).
    for (const [mode, per] of [["256 write() per call", BATCH], ["1 per call", 1]] as const) {
      const s0 = tap.stats.syscalls;
      const [pkts, secs] = timed(() => tap.writeBatch(mem, tx, 0, per));
      row("TAP write, 78 B frames", mode, pkts, secs, tap.stats.syscalls - s0);
    }
    // Read from the TAP: queue frames via the packet socket (TAP queue 10000), time the drain.
    for (const [mode, per] of [["256 read() per call", BATCH], ["1 per call", 1]] as const) {
      let pkts = 0;
      let t = 0n;
      let sys = 0;
      const deadline = Date.now() + SECONDS * 1000;
      while (Date.now() < deadline) {
        while (tap.readBatch(mem, rx, 0, BATCH) > 0);
        for (let k = 0; k < 32; k++) peer.writeBatch(mem, tx, 0, BATCH);
        const s0 = tap.stats.syscalls;
        const t0 = process.hrtime.bigint();
        for (;;) {
          const r = tap.readBatch(mem, rx, 0, per);
          if (r === 0) break;
          pkts += r;
        }
        t += process.hrtime.bigint() - t0;
        sys += tap.stats.syscalls - s0;
      }
      row("TAP read, 78 B frames", mode, pkts, Number(t) / 1e9, sys);
    }
  } finally {
    peer.close();
    tap.close();
  }
}

function main(): void {
  if (!canUseNetns()) {
    console.error("needs root, iproute2 and /dev/net/tun");
    process.exit(2);
  }
  const fx = new NetnsFixture();
  const stop = (): void => {
    fx.cleanup();
    process.exit(130);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    const A = fx.addNetns("a", { ipv6: true });
    const B = fx.addNetns("b", { ipv6: true });
    const va = fx.name("va");
    const vb = fx.name("vb");
    fx.addVeth(va, A.name, vb, B.name);
    for (const [ns, dev, a4, a6] of [[A.name, va, "198.19.1.1", "fd00:7776::1"], [B.name, vb, "198.19.1.2", "fd00:7776::2"]] as const) {
      fx.ip(["addr", "add", `${a4}/24`, "dev", dev], ns);
      fx.ip(["addr", "add", `${a6}/64`, "dev", dev, "nodad"], ns);
      fx.ip(["link", "set", dev, "up"], ns);
    }
    fx.ip(["neigh", "replace", "198.19.1.2", "lladdr", fx.mac(vb, B.name), "dev", va, "nud", "permanent"], A.name);
    fx.ip(["neigh", "replace", "fd00:7776::2", "lladdr", fx.mac(vb, B.name), "dev", va, "nud", "permanent"], A.name);
    const a = openUnderlay({ netns: A.path });
    const b = openUnderlay({ netns: B.path });
    rows.push("| path | mode | rate | per packet | syscalls/packet |", "|---|---|---|---|---|");
    try {
      underlayCases(a, b);
      tapCases(fx, B);
    } finally {
      a.close();
      b.close();
    }
    console.log(rows.join("\n"));
    console.log(`\n${SECONDS} s per case; node ${process.version}; kernel ${fx.exec(A.name, ["uname", "-r"]).trim()}`);
  } finally {
    fx.cleanup();
  }
}

main();
