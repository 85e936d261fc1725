// Property tests of the native batch calls: random bytes and random slot geometry never crash the
// process or throw for a single packet; every packet of a write is accounted for (sent or counted
// as an error). Root only (raw sockets in a fresh namespace pair without any route out).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openUnderlay, type LinuxUnderlay } from "../host/io/linux/underlay.ts";
import { openTun, type LinuxTunDevice } from "../host/io/linux/tun.ts";
import { canUseNetns, NetnsFixture } from "../host/io/testing/netns.ts";
import { loadNative } from "../host/native/index.ts";
import { describeRequiring } from "./helpers/require.ts";

const root = canUseNetns();
if (root) loadNative();

/** xorshift32: deterministic, seedable. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

describeRequiring(!root)("native batch calls under random input", () => {
  const fx = new NetnsFixture();
  let a: LinuxUnderlay;
  let b: LinuxUnderlay;
  let tun: LinuxTunDevice;

  beforeAll(() => {
    const A = fx.addNetns("a", { ipv6: true });
    const B = fx.addNetns("b", { ipv6: true });
    const va = fx.name("va");
    const vb = fx.name("vb");
    fx.addVeth(va, A.name, vb, B.name);
    fx.ip(["addr", "add", "198.18.9.1/24", "dev", va], A.name);
    fx.ip(["addr", "add", "fd00:7779::1/64", "dev", va, "nodad"], A.name);
    fx.ip(["addr", "add", "198.18.9.2/24", "dev", vb], B.name);
    fx.ip(["addr", "add", "fd00:7779::2/64", "dev", vb, "nodad"], B.name);
    fx.ip(["link", "set", va, "up"], A.name);
    fx.ip(["link", "set", vb, "up"], B.name);
    a = openUnderlay({ netns: A.path });
    b = openUnderlay({ netns: B.path });
    tun = openTun({ kind: "tun", name: fx.name("tun"), netns: A.path });
    fx.ip(["link", "set", tun.name, "up"], A.name);
  });
  afterAll(() => {
    a?.close();
    b?.close();
    tun?.close();
    fx.cleanup();
  });

  it("sendBatch consumes every random packet (sent or counted), never throws", () => {
    const r = rng(0xc0ffee);
    const mem = new Uint8Array(64 * 1024 * 2);
    const offsets = new Uint32Array(64);
    const lengths = new Uint32Array(64);
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 64; i++) {
        offsets[i] = i * 2048 + Math.floor(r() * 64);
        const len = Math.floor(r() * 300);
        lengths[i] = len;
        for (let k = 0; k < len; k++) mem[offsets[i]! + k] = Math.floor(r() * 256);
        const o = offsets[i]!;
        if (len > 0 && r() < 0.7) {
          // Mostly plausible headers, so the kernel gets past the version check.
          const v6 = r() < 0.5;
          mem[o] = v6 ? 0x60 : 0x45;
          if (!v6 && len >= 20) mem.set([198, 18, 9, r() < 0.5 ? 2 : Math.floor(r() * 256)], o + 16);
          if (v6 && len >= 40) mem.set([0xfd, 0, 0x77, 0x79, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], o + 24);
        }
      }
      const before = a.stats.packets + a.stats.errors;
      let done = 0;
      for (let tries = 0; done < 64 && tries < 100; tries++) done += a.sendBatch(mem, { offsets, lengths, capacity: 0 }, done, 64 - done);
      expect(done).toBe(64);
      expect(a.stats.packets + a.stats.errors - before).toBe(64);
    }
    expect(a.stats.errors).toBeGreaterThan(0);
    expect(a.stats.packets).toBeGreaterThan(0);
  });

  it("TUN writeBatch consumes every random packet, never throws", () => {
    const r = rng(0xbeef);
    const mem = new Uint8Array(64 * 2048);
    const offsets = new Uint32Array(64).map((_, i) => i * 2048);
    const lengths = new Uint32Array(64);
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 64; i++) {
        const len = Math.floor(r() * 1600);
        lengths[i] = len;
        for (let k = 0; k < len; k++) mem[offsets[i]! + k] = Math.floor(r() * 256);
        if (len > 0 && r() < 0.5) mem[offsets[i]!] = r() < 0.5 ? 0x45 : 0x60;
      }
      const before = tun.stats.packets + tun.stats.errors;
      expect(tun.writeBatch(mem, { offsets, lengths, capacity: 0 }, 0, 64)).toBe(64);
      expect(tun.stats.packets + tun.stats.errors - before).toBe(64);
    }
  });

  it("random slot geometry is either served or rejected with RangeError before any I/O", () => {
    const r = rng(7);
    const mem = new Uint8Array(32 * 1024);
    for (let round = 0; round < 500; round++) {
      const n = 1 + Math.floor(r() * 16);
      const offsets = new Uint32Array(n).map(() => Math.floor(r() * 40 * 1024));
      const lengths = new Uint32Array(n).map(() => Math.floor(r() * 3000));
      const capacity = r() < 0.5 ? Math.floor(r() * 3000) : new Uint32Array(n).map(() => Math.floor(r() * 3000));
      const start = Math.floor(r() * n);
      const count = Math.floor(r() * (n + 2));
      const slots = { offsets, lengths, capacity };
      for (const call of [() => b.recvBatch(mem, slots, start, count), () => tun.readBatch(mem, slots, start, count)]) {
        try {
          const got = call();
          expect(got).toBeGreaterThanOrEqual(0);
          expect(got).toBeLessThanOrEqual(count);
        } catch (e) {
          expect(e).toBeInstanceOf(RangeError);
        }
      }
    }
  });
});
