// The addon's own contract: argument checks, errors with errno names, readiness events,
// namespaces, device flags. Device-level tests need root and run in fresh namespaces.
import { spawnSync } from "node:child_process";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { openPacketSocket } from "../host/io/linux/packet.ts";
import { openTun } from "../host/io/linux/tun.ts";
import { IoError } from "../host/io/errors.ts";
import { Stat } from "../host/io/stats.ts";
import { makeMemory, waitReadable, writeTunTestPacket } from "../host/io/testing/compliance.ts";
import { canUseNetns, NetnsFixture } from "../host/io/testing/netns.ts";
import { addonPath, loadNative, nativeAvailable } from "../host/native/index.ts";
import { describeRequiring } from "./helpers/require.ts";

const root = canUseNetns();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describeRequiring(!root && !nativeAvailable())("weft_io addon", () => {
  it("exports the counter layout host/io/stats.ts mirrors", () => {
    const n = loadNative();
    expect(n.STAT).toEqual({
      PACKETS: Stat.Packets, BYTES: Stat.Bytes, CALLS: Stat.Calls, WOULD_BLOCK: Stat.WouldBlock, ERRORS: Stat.Errors,
      LAST_ERRNO: Stat.LastErrno, TRUNCATED: Stat.Truncated, SYSCALLS: Stat.Syscalls, KERNEL_DROPS: Stat.KernelDrops,
      GSO_SENDS: Stat.GsoSends, GSO_SEGMENTS: Stat.GsoSegments, GSO_FALLBACKS: Stat.GsoFallbacks,
      GRO_DATAGRAMS: Stat.GroDatagrams, GRO_SEGMENTS: Stat.GroSegments, GRO_IN_PLACE: Stat.GroInPlace, COUNT: Stat.Count,
    });
  });

  it("throws EBADF with code, errno and syscall for a closed fd, in every batch call", () => {
    const n = loadNative();
    const { mem, rx } = makeMemory();
    const u = n.openUdp(4, "127.0.0.1", 0, 0, 0, false);
    n.closeFd(u.fd);
    const calls: [string, () => unknown][] = [
      ["readv", () => n.readBatch(u.fd, mem, rx.offsets, rx.capacity, rx.lengths, 0, 4)],
      ["write", () => n.writeBatch(u.fd, mem, rx.offsets, null, rx.lengths.fill(20), 0, 4)],
      ["recvmmsg", () => n.recvBatch(u.fd, mem, rx.offsets, rx.capacity, rx.lengths, 0, 4, undefined, 4, 1, 0)],
    ];
    for (const [syscall, call] of calls) {
      let err: (Error & { code?: string; errno?: number; syscall?: string }) | undefined;
      try {
        call();
      } catch (e) {
        err = e as typeof err;
      }
      expect(err?.message).toMatch(/^EBADF: Bad file descriptor/);
      expect(err).toMatchObject({ code: "EBADF", errno: -9, syscall });
    }
    expect(() => n.closeFd(u.fd)).toThrow(/EBADF/);
  });

  it("checks arguments before touching the fd", () => {
    const n = loadNative();
    const { mem, rx } = makeMemory();
    expect(() => n.readBatch(0, mem, new Int32Array(4) as unknown as Uint32Array, 100, rx.lengths, 0, 1)).toThrow(TypeError);
    expect(() => n.readBatch(0, mem, rx.offsets, 100, rx.lengths, 250, 10)).toThrow(RangeError);
    expect(() => n.readBatch(0, mem, Uint32Array.of(mem.length), 1, rx.lengths, 0, 1)).toThrow(RangeError);
    expect(() => n.readBatch(0, mem, rx.offsets, 100, rx.lengths, 0, 1, new Float64Array(2))).toThrow(TypeError);
    expect(() => n.recvBatch(0, mem, rx.offsets, 20, rx.lengths, 0, 1, undefined, 4, 1, 0)).toThrow(RangeError);
    expect(() => n.openUdp(5 as 4, "", 0, 0, 0, false)).toThrow(RangeError);
    expect(() => n.openUdp(4, "::1", 0, 0, 0, false)).toThrow(TypeError);
    expect(() => n.openTun("x".repeat(16), true, false, false)).toThrow(expect.objectContaining({ code: "ENAMETOOLONG" }));
  });

  it("works in worker threads, which may exit with poll handles still open", async () => {
    const code = `
      const { parentPort, workerData } = require("node:worker_threads");
      const n = require(workerData);
      const a = n.openUdp(4, "127.0.0.1", 0, 0, 0, false);
      const b = n.openUdp(4, "127.0.0.1", 0, 0, 0, false);
      const p = new n.Poller(b.fd, () => {});
      p.start(n.READABLE);
      new n.Poller(a.fd, () => {});  // created, never started
      const mem = new Uint8Array(65536);
      const r = n.recvBatch(b.fd, mem, Uint32Array.of(0, 2048), 2000, new Uint32Array(2), 0, 2, new Float64Array(16), 4, b.port, 0);
      parentPort.postMessage(r);`;
    for (let i = 0; i < 3; i++) {
      const w = new Worker(code, { eval: true, workerData: addonPath });
      const msg = await new Promise((resolve, reject) => {
        w.once("message", resolve);
        w.once("error", reject);
      });
      expect(msg).toBe(0);
      await w.terminate();  // would crash the process if libuv called back into an unloaded addon
    }
  });

  it("lets the process exit with an active poll handle", () => {
    const r = spawnSync(process.execPath, ["-e", `
      const n = require(${JSON.stringify(addonPath)});
      const u = n.openUdp(4, "127.0.0.1", 0, 0, 0, false);
      new n.Poller(u.fd, () => {}).start(n.READABLE);
      setTimeout(() => process.exit(0), 10);`], { timeout: 10_000 });
    expect(r.status).toBe(0);
  });

  it("accepts the memory as an ArrayBuffer or any view; offsets are relative to the view", () => {
    const n = loadNative();
    const b = n.openUdp(4, "127.0.0.1", 0, 0, 0, false);
    try {
      const buf = new ArrayBuffer(8192);
      const view = new Uint8Array(buf, 4096);
      expect(n.recvBatch(b.fd, buf, Uint32Array.of(0), 1500, new Uint32Array(1), 0, 1, undefined, 4, b.port, 0)).toBe(0);
      expect(n.recvBatch(b.fd, view, Uint32Array.of(0), 1500, new Uint32Array(1), 0, 1, undefined, 4, b.port, 0)).toBe(0);
      expect(() => n.recvBatch(b.fd, view, Uint32Array.of(4000), 1500, new Uint32Array(1), 0, 1, undefined, 4, b.port, 0)).toThrow(RangeError);
    } finally {
      n.closeFd(b.fd);
    }
  });
});

describeRequiring(!root)("weft_io addon with devices (root)", () => {
  it("creates a device inside the given namespace only, and reports ENOENT for a missing one", () => {
    const fx = new NetnsFixture();
    try {
      const ns = fx.addNetns("n");
      const d = openTun({ kind: "tap", name: fx.name("t"), netns: ns.path });
      try {
        expect(fx.ip(["-o", "link", "show", "dev", d.name], ns.name)).toContain(d.name);
        expect(() => fx.ip(["link", "show", "dev", d.name])).toThrow();
      } finally {
        d.close();
      }
      expect(() => openTun({ kind: "tap", name: fx.name("t"), netns: "/var/run/netns/wt-missing" })).toThrow(
        expect.objectContaining({ name: "IoError", code: "ENOENT", syscall: "open" }),
      );
      // The device disappears with its fd (persist off).
      expect(() => fx.ip(["link", "show", "dev", d.name], ns.name)).toThrow();
    } finally {
      fx.cleanup();
    }
  });

  it("plumbs IFF_VNET_HDR and IFF_MULTI_QUEUE, and lets the kernel pick a name", () => {
    const fx = new NetnsFixture();
    try {
      const ns = fx.addNetns("n");
      const q0 = openTun({ kind: "tun", name: fx.name("mq"), netns: ns.path, vnetHdr: true, multiQueue: true });
      const q1 = openTun({ kind: "tun", name: q0.name, netns: ns.path, vnetHdr: true, multiQueue: true });
      const flags = parseInt(fx.exec(ns.name, ["cat", `/sys/class/net/${q0.name}/tun_flags`]).trim(), 16);
      expect(flags & 0x4000).toBe(0x4000);  // IFF_VNET_HDR
      expect(flags & 0x0100).toBe(0x0100);  // IFF_MULTI_QUEUE
      expect(flags & 0x1000).toBe(0x1000);  // IFF_NO_PI
      q1.close();
      q0.close();
      const auto = openTun({ kind: "tap", netns: ns.path });
      expect(auto.name).toMatch(/^tap\d+$/);
      auto.close();
    } finally {
      fx.cleanup();
    }
  });

  it("fires one readable callback per readiness event, not one per packet", async () => {
    const fx = new NetnsFixture();
    try {
      const ns = fx.addNetns("n");
      const d = openTun({ kind: "tap", name: fx.name("t"), netns: ns.path });
      fx.ip(["link", "set", d.name, "up"], ns.name);
      const peer = openPacketSocket(d.name, { netns: ns.path });
      const { mem, rx, tx } = makeMemory();
      for (let i = 0; i < 200; i++) tx.lengths[i] = writeTunTestPacket("tap", mem, tx.offsets[i]!, i);
      expect(peer.writeBatch(mem, tx, 0, 200)).toBe(200);
      let calls = 0;
      let got = 0;
      d.onReadable(() => {
        calls++;
        got += d.readBatch(mem, rx, 0, 256);
      });
      await sleep(100);
      d.onReadable(null);
      expect(got).toBe(200);
      expect(calls).toBe(1);
      expect(d.stats.syscalls).toBe(201);  // 200 reads + the one that said EAGAIN
      peer.close();
      d.close();
    } finally {
      fx.cleanup();
    }
  });

  it("throws EBADFD (IoError) once the device was deleted under the fd, and wakes the reader", async () => {
    const fx = new NetnsFixture();
    try {
      const ns = fx.addNetns("n");
      const d = openTun({ kind: "tap", name: fx.name("t"), netns: ns.path });
      const woke = waitReadable(d, 2000);
      fx.ip(["link", "del", d.name], ns.name);
      expect(await woke).toBe(true);
      const { mem, rx } = makeMemory();
      expect(() => d.readBatch(mem, rx, 0, 4)).toThrow(expect.objectContaining({ code: "EBADFD" }));
      try {
        d.readBatch(mem, rx, 0, 4);
      } catch (e) {
        expect(e).toBeInstanceOf(IoError);
        expect((e as Error).message).toContain(d.name);
      }
      d.close();
    } finally {
      fx.cleanup();
    }
  });
});

describeRequiring(!nativeAvailable() && ["the native addon (npm run build:native)"])("weft_io addon: epoll wait (datapath.loop epoll)", () => {
  it("reports the token of each readable fd and of a signalled eventfd; times out with 0", () => {
    const n = loadNative();
    const ep = n.epollCreate(), ev = n.eventfdCreate(), ev2 = n.eventfdCreate();
    const out = new Uint32Array(8);
    try {
      n.epollAdd(ep, ev, 0xffffffff);
      n.epollAdd(ep, ev2, 7);
      let t = Date.now();
      expect(n.epollWait(ep, out, 30, 0)).toBe(0);
      expect(Date.now() - t).toBeGreaterThanOrEqual(25);
      n.eventfdSignal(ev);
      n.eventfdSignal(ev);
      expect(n.epollWait(ep, out, 1000, 0)).toBe(1);
      expect(out[0]).toBe(0xffffffff);
      // level-triggered: still ready until drained; the drain returns the count
      expect(n.epollWait(ep, out, 0, 0)).toBe(1);
      expect(n.eventfdDrain(ev)).toBe(2);
      expect(n.eventfdDrain(ev)).toBe(0);
      n.eventfdSignal(ev2);
      n.eventfdSignal(ev);
      const k = n.epollWait(ep, out, 1000, 0);
      expect(k).toBe(2);
      expect([...out.subarray(0, k)].sort()).toEqual([7, 0xffffffff].sort());
      n.eventfdDrain(ev); n.eventfdDrain(ev2);
      // a spin finds nothing, then the call blocks for the timeout
      t = Date.now();
      expect(n.epollWait(ep, out, 20, 200)).toBe(0);
      expect(Date.now() - t).toBeGreaterThanOrEqual(15);
      n.epollDel(ep, ev2);
      n.eventfdSignal(ev2);
      expect(n.epollWait(ep, out, 0, 0)).toBe(0);
      n.epollDel(ep, ev2); // not watched any more: no error
    } finally {
      n.closeFd(ev2); n.closeFd(ev); n.closeFd(ep);
    }
  });
  it("wakes a thread blocked in epollWait when another thread signals the eventfd", async () => {
    const n = loadNative();
    const ev = n.eventfdCreate();
    try {
      const w = new Worker(`
        const { parentPort, workerData } = require("node:worker_threads");
        const n = require(workerData.addon);
        const ep = n.epollCreate();
        n.epollAdd(ep, workerData.ev, 5);
        parentPort.postMessage("waiting");
        const out = new Uint32Array(4);
        const t = Date.now();
        const k = n.epollWait(ep, out, 10000, 0);
        n.closeFd(ep);
        parentPort.postMessage({ k, token: out[0], ms: Date.now() - t });
      `, { eval: true, workerData: { addon: addonPath, ev } });
      const done = new Promise<{ k: number; token: number; ms: number }>((res, rej) => {
        w.on("message", (m) => { if (m === "waiting") setTimeout(() => n.eventfdSignal(ev), 50); else res(m); });
        w.on("error", rej);
      });
      const r = await done;
      await w.terminate();
      expect(r.k).toBe(1);
      expect(r.token).toBe(5);
      expect(r.ms).toBeLessThan(5000);
    } finally {
      n.closeFd(ev);
    }
  });
  it("rejects a bad epoll fd and an empty token array", () => {
    const n = loadNative();
    expect(() => n.epollWait(-1, new Uint32Array(1), 0, 0)).toThrow(/epoll_wait/);
    const ep = n.epollCreate();
    try { expect(() => n.epollWait(ep, new Uint32Array(0), 0, 0)).toThrow(TypeError); } finally { n.closeFd(ep); }
  });
});
