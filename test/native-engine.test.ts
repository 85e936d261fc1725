// The native loop's engine (host/native/src/engine.cc): the contract native-loop.ts relies on,
// on real TAP devices in a namespace this file creates (root): a step returns the batch of the
// port epoll reported, a full batch is read again before anything else, writes queued in the
// flush list go out (results written back) before the next read, a port written to is re-read
// without waiting, a control wake-up is reported, removed ports are forgotten, a failing write
// is reported without throwing, a read whose fd died stops being watched, and the spin before a
// sleep (datapath.spinUs) finds what comes within it. Argument checks run without root.
import { spawn, type ChildProcess } from "node:child_process";
import { describe, expect, it } from "vitest";
import { openPacketSocket } from "../host/io/linux/packet.ts";
import { openTun } from "../host/io/linux/tun.ts";
import { makeMemory, writeTunTestPacket } from "../host/io/testing/compliance.ts";
import { canUseNetns, NetnsFixture } from "../host/io/testing/netns.ts";
import { loadNative, nativeAvailable, NATIVE_FN, type NativeEngine, type NativeIo } from "../host/native/index.ts";
import { describeRequiring } from "./helpers/require.ts";
import { payloadSeq } from "../host/io/testing/packets.ts";

const root = canUseNetns();
const FAILED = 0xffffffff;

/** Sequence number in a test frame written by writeTunTestPacket("tap"). */
function seqAt(mem: Uint8Array, off: number): number {
  return payloadSeq(mem.subarray(off + 14));
}

describeRequiring(!nativeAvailable() && ["the native addon (npm run build:native)"])("native loop engine: arguments", () => {
  it("rejects bad handles, bad call specs and reserved port ids, and leaves the engine usable", () => {
    const n = loadNative();
    const flush = new Uint32Array(8 + 6 * 8);
    const e = n.engineCreate(-1, flush);
    try {
      expect(() => n.engineStep({} as NativeEngine, 0)).toThrow(TypeError);
      expect(() => n.engineCreate(-1, new Uint32Array(8))).toThrow(RangeError);
      expect(() => n.engineCreate(-1, flush, -1)).toThrow(/spinUs must be in 0\.\.1000000/);
      expect(() => n.engineCreate(-1, flush, 1_000_001)).toThrow(/spinUs must be in 0\.\.1000000/);
      n.engineClose(n.engineCreate(-1, flush, 1_000_000));
      const { mem, rx } = makeMemory();
      const read = { fn: NATIVE_FN.readBatch, args: [0, mem, rx.offsets, rx.capacity, rx.lengths, 0, 0, undefined] };
      expect(() => n.engineAddPort(e, 1, [], [{ fn: NATIVE_FN.sendBatch, args: read.args }], [null, null], 8, false, [])).toThrow(/read call/);
      expect(() => n.engineAddPort(e, 1, [], [{ fn: 9, args: read.args }], [null, null], 8, false, [])).toThrow(RangeError);
      expect(() => n.engineAddPort(e, 1, [], [{ fn: NATIVE_FN.readBatch, args: [1, 2] }], [null, null], 8, false, [])).toThrow(RangeError);
      expect(() => n.engineAddPort(e, 0xfffffffe, [], [read], [null, null], 8, false, [])).toThrow(/reserved/);
      // an fd epoll cannot watch: nothing is added
      expect(() => n.engineAddPort(e, 1, [987654], [read], [null, null], 8, false, [])).toThrow(expect.objectContaining({ code: "EBADF" }));
      expect(n.engineStep(e, 0)).toBe(0);
      // a queued write to a port the engine does not know fails alone
      flush.set([1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 3, 3, 0]);
      n.engineFlush(e);
      expect(flush[0]).toBe(0);
      expect(flush[8 + 5]).toBe(FAILED);
    } finally {
      n.engineClose(e);
    }
    expect(() => n.engineStep(e, 0)).toThrow(/closed/);
    n.engineClose(e); // twice: no error
  });
});

describeRequiring(!root && ["root (network namespaces, TAP devices)"])("native loop engine on TAP devices (root)", () => {
  it("reads, re-reads, flushes, reports control wake-ups and forgets removed ports", () => {
    const n: NativeIo = loadNative();
    const fx = new NetnsFixture();
    const ev = n.eventfdCreate();
    const flush = new Uint32Array(8 + 6 * 8);
    const e = n.engineCreate(ev, flush);
    try {
      const ns = fx.addNetns("e");
      const a = openTun({ kind: "tap", name: fx.name("a"), netns: ns.path });
      const b = openTun({ kind: "tap", name: fx.name("b"), netns: ns.path });
      for (const d of [a, b]) fx.ip(["link", "set", d.name, "up"], ns.name);
      const pa = openPacketSocket(a.name, { netns: ns.path });
      const pb = openPacketSocket(b.name, { netns: ns.path });
      const { mem, rx, tx } = makeMemory();
      const other = makeMemory();
      const add = (port: number, d: typeof a, readCount: number) => {
        const r = d.nativeReads(mem, rx);
        n.engineAddPort(e, port, d.readFds(), r.calls, [d.nativeWrite(mem, rx), null], readCount, true, r.groWords);
      };
      add(1, a, 8);
      add(2, b, 8);
      const stats = () => n.engineStats(e);

      // nothing ready: the step times out
      let t = Date.now();
      expect(n.engineStep(e, 30)).toBe(0);
      expect(Date.now() - t).toBeGreaterThanOrEqual(25);

      // 20 frames on a: the wake-up's read takes one (a's last read found nothing: light load, so
      // the first packet is not held back by a read of an empty queue), the rest are re-read
      // without another wait: 8, 8 (a full batch is read again at once), then 3
      for (let i = 0; i < 20; i++) tx.lengths[i] = writeTunTestPacket("tap", mem, tx.offsets[i]!, i);
      expect(pa.writeBatch(mem, tx, 0, 20)).toBe(20);
      const got: number[] = [];
      const wakeWaits = stats()[0];
      for (const want of [1, 8, 8, 3]) {
        expect(n.engineStep(e, 1000)).toBe(1);
        expect([flush[2], flush[3]]).toEqual([1, want]);
        for (let i = 0; i < want; i++) got.push(seqAt(mem, rx.offsets[i]!));
      }
      expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect(stats()[0]).toBe(wakeWaits + 1);

      // after a batch of 3 the next wake-up reads whole batches again: 5 frames come as one 5
      for (let i = 0; i < 5; i++) tx.lengths[i] = writeTunTestPacket("tap", mem, tx.offsets[i]!, 100 + i);
      expect(pa.writeBatch(mem, tx, 0, 5)).toBe(5);
      expect(n.engineStep(e, 1000)).toBe(1);
      expect([flush[2], flush[3]]).toEqual([1, 5]);
      expect(n.engineStep(e, 0)).toBe(0);

      // queue 4 of the last batch for b: they go out before the next read, the result is written back,
      // and b (written to) is read again without an epoll wait: pb's answer comes back at once
      other.tx.lengths[0] = writeTunTestPacket("tap", other.mem, other.tx.offsets[0]!, 77);
      expect(pb.writeBatch(other.mem, other.tx, 0, 1)).toBe(1);
      flush.set([1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 4, 4, 0]);
      const waits = stats()[0];
      expect(n.engineStep(e, 1000)).toBe(1);
      expect(flush[0]).toBe(0);
      expect(flush[8 + 5]).toBe(4);
      expect([flush[2], flush[3]]).toEqual([2, 1]);
      expect(seqAt(mem, rx.offsets[0]!)).toBe(77);
      expect(stats()[0]).toBe(waits);
      let seen: number[] = [];
      for (let tries = 0; tries < 100 && seen.length < 4; tries++) {
        const k = pb.readBatch(other.mem, other.rx, 0, 8);
        for (let i = 0; i < k; i++) seen.push(seqAt(other.mem, other.rx.offsets[i]!));
      }
      expect(seen.filter((s) => s >= 100 && s < 104).sort((x, y) => x - y)).toEqual([100, 101, 102, 103]);

      // a control wake-up is reported (and again only after another signal)
      n.eventfdSignal(ev);
      expect(n.engineStep(e, 1000)).toBe(2);
      expect(n.eventfdDrain(ev)).toBe(1);
      expect(n.engineStep(e, 0)).toBe(0);

      // a removed port is not read any more; a write queued for it fails alone
      n.engineRemovePort(e, 1);
      tx.lengths[0] = writeTunTestPacket("tap", mem, tx.offsets[0]!, 5);
      expect(pa.writeBatch(mem, tx, 0, 1)).toBe(1);
      t = Date.now();
      flush.set([1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 1, 0]);
      expect(n.engineStep(e, 30)).toBe(0);
      expect(flush[8 + 5]).toBe(FAILED);
      expect(Date.now() - t).toBeGreaterThanOrEqual(25);
      // re-adding it (same id) watches it again: the frame is there
      add(1, a, 8);
      expect(n.engineStep(e, 1000)).toBe(1);
      expect([flush[2], flush[3]]).toEqual([1, 1]);

      // a write whose fd failed (device deleted under it) is reported, not thrown
      fx.ip(["link", "del", b.name], ns.name);
      flush.set([1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 1, 1, 0]);
      n.engineFlush(e);
      expect(flush[8 + 5]).toBe(FAILED);
      const s = stats();
      expect(s[3]).toBe(7); // batches: 1, 8, 8, 3 and 5 from a, 1 re-read from b, 1 from a re-added
      expect(s[2]).toBe(1); // control wake-ups
      expect(s[4]).toBe(4); // packets written
      expect(s[5]).toBe(2); // packets of the two failed writes
      expect(s[8]).toBe(0);

      // reads whose fds died (devices deleted under them) are taken out of the epoll set: no spinning
      fx.ip(["link", "del", a.name], ns.name);
      expect(n.engineStep(e, 100)).toBe(0);
      expect(stats()[8]).toBe(2); // a's read, and b's (re-read after the write to it above)
      const waits0 = stats()[0];
      t = Date.now();
      expect(n.engineStep(e, 60)).toBe(0);
      expect(Date.now() - t).toBeGreaterThanOrEqual(50);
      expect(stats()[0] - waits0).toBe(1);
      expect(s[9]).toBe(0); // no spin: no spin hits
      seen = [];
      pa.close(); pb.close(); a.close(); b.close();
    } finally {
      n.engineClose(e);
      n.closeFd(ev);
      fx.cleanup();
    }
  });

  it("with spinUs it polls before sleeping: a frame that comes within the spin is a spin hit, silence ends in a sleep", async () => {
    const n: NativeIo = loadNative();
    const fx = new NetnsFixture();
    const flush = new Uint32Array(8 + 6 * 8);
    const e = n.engineCreate(-1, flush, 1_000_000); // the longest spin: robust against a slow child
    let child: ChildProcess | undefined;
    try {
      const ns = fx.addNetns("s");
      const a = openTun({ kind: "tap", name: fx.name("a"), netns: ns.path });
      fx.exec(ns.name, ["sysctl", "-qw", `net.ipv6.conf.${a.name}.disable_ipv6=1`]); // no IPv6 frames of its own
      fx.ip(["link", "set", a.name, "up"], ns.name);
      fx.ip(["addr", "add", "10.77.0.1/24", "dev", a.name], ns.name);
      fx.ip(["neigh", "add", "10.77.0.2", "lladdr", "02:00:00:00:77:02", "dev", a.name, "nud", "permanent"], ns.name);
      const { mem, rx } = makeMemory();
      const r = a.nativeReads(mem, rx);
      n.engineAddPort(e, 1, a.readFds(), r.calls, [null, null], 8, false, r.groWords);
      const stats = () => n.engineStats(e);
      const before = stats();
      // one ICMP echo leaves through the TAP ~50 ms from now (static neighbour: no ARP), while
      // the engine spins: it is read without a sleep
      child = spawn("sh", ["-c", `sleep 0.05; exec ip netns exec ${ns.name} ping -c 1 -W 1 -n 10.77.0.2`], { stdio: "ignore" });
      expect(n.engineStep(e, 5000)).toBe(1);
      expect(flush[3]).toBe(1);
      expect(mem[rx.offsets[0]! + 12]).toBe(0x08); // IPv4
      let s = stats();
      expect(s[9] - before[9]).toBe(1);   // spin hit
      expect(s[10] - before[10]).toBe(0); // no sleep
      // nothing more comes: the spin runs out and the step sleeps until its timeout
      const t = Date.now();
      expect(n.engineStep(e, 30)).toBe(0);
      expect(Date.now() - t).toBeGreaterThanOrEqual(1000);
      s = stats();
      expect(s[10] - before[10]).toBe(1);
      expect(s[9] - before[9]).toBe(1);
      a.close();
    } finally {
      child?.kill();
      n.engineClose(e);
      fx.cleanup();
    }
  });
});
