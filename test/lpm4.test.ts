// IPv4 LPM (assembly/lpm/ipv4.ts) against the linear-scan reference (test/reference/lpm.ts).
import { describe, it, expect, beforeAll } from "vitest";
import {
  loadWeft, LpmWasm, Lpm4Ref, Rng, LPM_MISS, mask4, addrIn4, genBgp4, BGP4_LENGTHS, ip4,
} from "./reference/lpm.ts";

let w: LpmWasm;
beforeAll(async () => { w = new LpmWasm(await loadWeft()); });

/** Compares batch (and a sample of single) lookups with the reference; returns how many. */
function compare(ref: Lpm4Ref, addrs: number[]): number {
  const got = w.batch4(Uint32Array.from(addrs));
  for (let i = 0; i < addrs.length; i++) {
    const want = ref.lookup(addrs[i]);
    if (got[i] !== want) {
      throw new Error(`lookup ${addrs[i].toString(16)}: wasm ${got[i].toString(16)} ref ${want.toString(16)}`);
    }
    if (i % 16 === 0) expect(w.lookup4(addrs[i])).toBe(want);
  }
  return addrs.length;
}

/** Random addresses plus addresses inside, at the edges of and just outside routes. */
function probe(rng: Rng, ref: Lpm4Ref, n: number): number[] {
  const routes = ref.list();
  const out: number[] = [];
  while (out.length < n) {
    const k = rng.int(10);
    if (k < 3 || routes.length === 0) { out.push(rng.u32()); continue; }
    const r = routes[rng.int(routes.length)];
    const last = (r.prefix | ~mask4(r.len)) >>> 0;
    switch (k) {
      case 3: out.push(r.prefix); break;
      case 4: out.push(last); break;
      case 5: out.push((r.prefix - 1) >>> 0); break;
      case 6: out.push((last + 1) >>> 0); break;
      default: out.push(addrIn4(rng, r.prefix, r.len));
    }
  }
  return out;
}

type LenMix = (rng: Rng) => number;
const MIXES: Array<[string, LenMix]> = [
  ["uniform /0-/32", (rng) => rng.int(33)],
  ["bgp-like", (rng) => rng.pick(BGP4_LENGTHS)],
  ["short /0-/20", (rng) => rng.int(21)],
  ["long /16-/32", (rng) => 16 + rng.int(17)],
  ["deep /18-/32 in few /18s", (rng) => 18 + rng.int(15)],
];

describe("lpm4 differential", () => {
  for (const [name, mix] of MIXES) {
    it(`random inserts/replaces/deletes, ${name}`, () => {
      const rng = new Rng(0x1234 + name.length * 7919);
      const ref = new Lpm4Ref();
      w.ex.lpm4Init(5000);
      // clustering: a few bases so routes nest and share /18 blocks
      const bases = Array.from({ length: name.startsWith("deep") ? 3 : 12 }, () => rng.u32());
      let lookups = 0;
      for (let op = 0; op < 4000; op++) {
        const k = rng.int(100);
        const live = ref.list();
        if (k < 55 || live.length === 0) {
          const len = mix(rng);
          // host bits set on purpose: the table must ignore them
          let prefix = rng.u32();
          if (rng.int(3) > 0) prefix = ((bases[rng.int(bases.length)] & mask4(Math.min(len, 18))) | (prefix & ~mask4(Math.min(len, 18)))) >>> 0;
          if (rng.int(4) === 0 && live.length > 0) {
            const p = live[rng.int(live.length)];
            if (p.len <= len) prefix = ((p.prefix & mask4(p.len)) | (prefix & ~mask4(p.len))) >>> 0;
          }
          const value = rng.int(8) === 0 ? 0xfffffffe - rng.int(4) : rng.int(1 << 24);
          expect(w.insert4(prefix, len, value)).toBe(0);
          ref.insert(prefix, len, value);
        } else if (k < 65) {
          const r = live[rng.int(live.length)];  // replace
          const value = rng.int(5) === 0 ? r.value : rng.int(1 << 24);
          expect(w.insert4(r.prefix | (rng.u32() & ~mask4(r.len)), r.len, value)).toBe(0);
          ref.insert(r.prefix, r.len, value);
        } else if (k < 92) {
          const r = live[rng.int(live.length)];
          expect(w.delete4(r.prefix | (rng.u32() & ~mask4(r.len)), r.len)).toBe(0);
          ref.delete(r.prefix, r.len);
        } else {
          const len = mix(rng);
          const prefix = rng.u32();
          if (!ref.has(prefix, len)) expect(w.delete4(prefix, len)).toBe(-4);
        }
        if (op % 250 === 249) {
          expect(w.ex.lpm4Check()).toBe(0);
          expect(w.ex.lpm4Count()).toBe(ref.size);
          lookups += compare(ref, probe(rng, ref, 1600));
        }
      }
      expect(lookups).toBeGreaterThanOrEqual(25_000);
      // delete everything: the table must be empty again
      for (const r of ref.list()) expect(w.delete4(r.prefix, r.len)).toBe(0);
      expect(w.ex.lpm4Count()).toBe(0);
      expect(w.ex.lpm4LiveBytes()).toBe(0);
      expect(w.ex.lpm4Check()).toBe(0);
      const empty = w.batch4(Uint32Array.from(probe(rng, new Lpm4Ref(), 2000)));
      expect(empty.every((v) => v === LPM_MISS)).toBe(true);
    }, 120_000);
  }

  it("100k BGP-like routes: fits 16 MiB, matches the reference, deletes back to empty", () => {
    const rng = new Rng(42);
    w.ex.lpm4Init(100_000);
    expect(w.ex.lpm4MemoryBytes()).toBeLessThanOrEqual(16 << 20);
    const routes = genBgp4(rng, 100_000);
    const ref = new Lpm4Ref();
    for (const r of routes) { expect(w.insert4(r.prefix, r.len, r.value)).toBe(0); ref.insert(r.prefix, r.len, r.value); }
    expect(w.ex.lpm4Count()).toBe(100_000);
    expect(w.ex.lpm4Check()).toBe(0);
    expect(w.insert4(ip4("1.2.3.4"), 32, 7) === -2 || ref.has(ip4("1.2.3.4"), 32)).toBe(true); // full
    compare(ref, probe(rng, ref, 1500));
    for (let i = 0; i < 50_000; i++) { const r = routes[i]; expect(w.delete4(r.prefix, r.len)).toBe(0); ref.delete(r.prefix, r.len); }
    expect(w.ex.lpm4Check()).toBe(0);
    compare(ref, probe(rng, ref, 1500));
    for (let i = 50_000; i < 100_000; i++) { const r = routes[i]; expect(w.delete4(r.prefix, r.len)).toBe(0); }
    expect(w.ex.lpm4Count()).toBe(0);
    expect(w.ex.lpm4LiveBytes()).toBe(0);
  }, 120_000);
});

describe("lpm4 edge cases", () => {
  it("batch calls of every length 0..40 (the interleaved groups of 16 and the tail) match single lookups", () => {
    const rng = new Rng(4040);
    const ref = new Lpm4Ref();
    w.ex.lpm4Init(2000);
    for (const r of genBgp4(rng, 1500)) { expect(w.insert4(r.prefix, r.len, r.value)).toBe(0); ref.insert(r.prefix, r.len, r.value); }
    let compared = 0;
    for (let n = 0; n <= 40; n++) compared += compare(ref, probe(rng, ref, n));
    expect(compared).toBe((40 * 41) / 2);
  });
  it("/0, /1, /31, /32, host bits, replace, delete restores the covering prefix", () => {
    w.ex.lpm4Init(100);
    expect(w.lookup4(0)).toBe(LPM_MISS);
    expect(w.insert4(ip4("1.2.3.4"), 0, 100)).toBe(0);        // /0 with host bits
    expect(w.lookup4(0)).toBe(100);
    expect(w.lookup4(0xffffffff)).toBe(100);
    expect(w.insert4(ip4("200.0.0.0"), 1, 101)).toBe(0);      // 128.0.0.0/1
    expect(w.lookup4(ip4("127.255.255.255"))).toBe(100);
    expect(w.lookup4(ip4("128.0.0.0"))).toBe(101);
    expect(w.insert4(ip4("10.1.2.5"), 31, 131)).toBe(0);      // 10.1.2.4/31
    expect(w.insert4(ip4("10.1.2.5"), 32, 132)).toBe(0);
    expect(w.lookup4(ip4("10.1.2.3"))).toBe(100);
    expect(w.lookup4(ip4("10.1.2.4"))).toBe(131);
    expect(w.lookup4(ip4("10.1.2.5"))).toBe(132);
    expect(w.lookup4(ip4("10.1.2.6"))).toBe(100);
    expect(w.insert4(ip4("10.1.2.255"), 24, 124)).toBe(0);
    expect(w.insert4(ip4("10.1.0.0"), 16, 116)).toBe(0);
    expect(w.lookup4(ip4("10.1.2.3"))).toBe(124);
    expect(w.lookup4(ip4("10.1.3.3"))).toBe(116);
    expect(w.lookup4(ip4("10.1.2.4"))).toBe(131);
    expect(w.insert4(ip4("10.1.2.4"), 31, 999)).toBe(0);       // replace
    expect(w.lookup4(ip4("10.1.2.4"))).toBe(999);
    expect(w.ex.lpm4Count()).toBe(6);
    expect(w.delete4(ip4("10.1.2.5"), 32)).toBe(0);
    expect(w.lookup4(ip4("10.1.2.5"))).toBe(999);            // back to the /31
    expect(w.delete4(ip4("10.1.2.4"), 31)).toBe(0);
    expect(w.lookup4(ip4("10.1.2.5"))).toBe(124);            // back to the /24
    expect(w.delete4(ip4("10.1.2.0"), 24)).toBe(0);
    expect(w.lookup4(ip4("10.1.2.5"))).toBe(116);            // back to the /16
    expect(w.delete4(ip4("10.1.0.0"), 16)).toBe(0);
    expect(w.lookup4(ip4("10.1.2.5"))).toBe(100);            // back to /0
    expect(w.delete4(0, 0)).toBe(0);
    expect(w.lookup4(ip4("10.1.2.5"))).toBe(LPM_MISS);
    expect(w.lookup4(ip4("128.0.0.1"))).toBe(101);
    expect(w.ex.lpm4Count()).toBe(1);
    expect(w.ex.lpm4Check()).toBe(0);
  });

  it("errors: bad length, bad value, absent prefix", () => {
    w.ex.lpm4Init(10);
    expect(w.insert4(0, 33, 1)).toBe(-1);
    expect(w.insert4(0, -1, 1)).toBe(-1);
    expect(w.insert4(0, 8, LPM_MISS)).toBe(-3);
    expect(w.delete4(0, 33)).toBe(-1);
    expect(w.delete4(ip4("10.0.0.0"), 8)).toBe(-4);
    expect(w.insert4(ip4("10.0.0.0"), 8, 1)).toBe(0);
    expect(w.delete4(ip4("10.0.0.0"), 9)).toBe(-4);
    expect(w.delete4(ip4("10.0.0.0"), 7)).toBe(-4);
    expect(w.delete4(ip4("11.0.0.0"), 8)).toBe(-4);
    expect(w.insert4(0, 32, 0xfffffffe)).toBe(0);           // largest legal value
    expect(w.lookup4(0)).toBe(0xfffffffe);
    expect(w.ex.lpm4Count()).toBe(2);
  });

  it("a full table refuses new prefixes, accepts replaces, and is left intact", () => {
    const rng = new Rng(7);
    w.ex.lpm4Init(64);
    const ref = new Lpm4Ref();
    while (ref.size < 64) {
      const len = rng.int(33), p = rng.u32(), v = rng.int(1000);
      expect(w.insert4(p, len, v)).toBe(0);
      ref.insert(p, len, v);
    }
    const before = probe(rng, ref, 3000);
    const snapshot = w.batch4(Uint32Array.from(before));
    for (let i = 0; i < 50; i++) {
      const len = rng.int(33), p = rng.u32();
      if (!ref.has(p, len)) expect(w.insert4(p, len, 5)).toBe(-2);
    }
    expect(w.ex.lpm4Count()).toBe(64);
    expect(w.batch4(Uint32Array.from(before))).toEqual(snapshot);
    compare(ref, before);
    const r = ref.list()[3];
    expect(w.insert4(r.prefix, r.len, 4242)).toBe(0);         // replace still works
    ref.insert(r.prefix, r.len, 4242);
    expect(w.delete4(r.prefix, r.len)).toBe(0);
    ref.delete(r.prefix, r.len);
    expect(w.insert4(ip4("9.9.9.9"), 32, 9)).toBe(0);          // room again
    ref.insert(ip4("9.9.9.9"), 32, 9);
    compare(ref, probe(rng, ref, 3000));
    expect(w.ex.lpm4Check()).toBe(0);
  });

  it("out of arena memory: ERR_FULL leaves the table exactly as before; compaction reclaims", () => {
    const rng = new Rng(99);
    w.ex.lpm4InitSized(100_000, 48 << 10);
    const ref = new Lpm4Ref();
    let failures = 0;
    for (let op = 0; op < 6000; op++) {
      const live = ref.list();
      if (rng.int(3) === 0 && live.length > 0) {
        // with an arena below lpm4ArenaBytesFor() even a delete may not fit: ERR_FULL, no change
        const r = live[rng.int(live.length)];
        const rc = w.delete4(r.prefix, r.len);
        if (rc === -2) { failures++; continue; }
        expect(rc).toBe(0);
        ref.delete(r.prefix, r.len);
        continue;
      }
      const len = 14 + rng.int(19);
      const p = ((0x0a000000 | (rng.u32() & 0x003fffff)) & mask4(len)) >>> 0;
      const v = rng.int(1 << 20);
      const rc = w.insert4(p, len, v);
      if (rc === -2) {
        failures++;
        if (failures % 20 === 1) {
          expect(w.ex.lpm4Check()).toBe(0);
          compare(ref, probe(rng, ref, 500));
        }
      } else {
        expect(rc).toBe(0);
        ref.insert(p, len, v);
      }
    }
    expect(failures).toBeGreaterThan(0);
    expect(w.ex.lpm4Compactions()).toBeGreaterThan(0);
    expect(w.ex.lpm4Count()).toBe(ref.size);
    expect(w.ex.lpm4Check()).toBe(0);
    compare(ref, probe(rng, ref, 5000));
    w.ex.lpm4Compact();
    expect(w.ex.lpm4Check()).toBe(0);
    compare(ref, probe(rng, ref, 5000));
  }, 60_000);

  it("re-init resets the table and reuses its memory", () => {
    w.ex.lpm4Init(1000);
    const bytes = w.ex.lpm4MemoryBytes();
    expect(w.insert4(ip4("10.0.0.0"), 8, 1)).toBe(0);
    expect(w.insert4(ip4("10.1.2.3"), 32, 2)).toBe(0);
    expect(w.insert4(0, 0, 3)).toBe(0);
    const memBefore = w.ex.memory.buffer.byteLength;
    w.ex.lpm4Init(500);
    expect(w.ex.memory.buffer.byteLength).toBe(memBefore);
    expect(w.ex.lpm4MemoryBytes()).toBe(bytes);
    expect(w.ex.lpm4Count()).toBe(0);
    expect(w.lookup4(ip4("10.1.2.3"))).toBe(LPM_MISS);
    expect(w.lookup4(ip4("10.9.9.9"))).toBe(LPM_MISS);
    expect(w.lookup4(ip4("99.9.9.9"))).toBe(LPM_MISS);
    expect(w.ex.lpm4LiveBytes()).toBe(0);
    expect(w.ex.lpm4Check()).toBe(0);
    expect(w.insert4(ip4("10.1.2.3"), 32, 5)).toBe(0);
    expect(w.lookup4(ip4("10.1.2.3"))).toBe(5);
  });

  it("lpm4LookupNet takes the address as loaded from packet bytes", () => {
    w.ex.lpm4Init(10);
    expect(w.insert4(ip4("192.168.1.0"), 24, 77)).toBe(0);
    const net = new DataView(new ArrayBuffer(4));
    net.setUint32(0, ip4("192.168.1.9"), false);            // network order bytes
    expect(w.ex.lpm4LookupNet(net.getUint32(0, true) | 0) >>> 0).toBe(77);
  });

  it("pod-network shape: /24 per node, /32 per local pod, default route", () => {
    const rng = new Rng(5);
    w.ex.lpm4Init(2000);
    const ref = new Lpm4Ref();
    const add = (p: number, l: number, v: number) => { expect(w.insert4(p, l, v)).toBe(0); ref.insert(p, l, v); };
    add(0, 0, 1);
    add(ip4("10.244.0.0"), 16, 2);
    for (let n = 0; n < 256; n++) add(ip4(`10.244.${n}.0`), 24, 1000 + n);
    for (let p = 2; p < 250; p++) add(ip4(`10.244.7.${p}`), 32, 5000 + p);
    compare(ref, probe(rng, ref, 20_000));
    for (let p = 2; p < 250; p += 3) { expect(w.delete4(ip4(`10.244.7.${p}`), 32)).toBe(0); ref.delete(ip4(`10.244.7.${p}`), 32); }
    compare(ref, probe(rng, ref, 20_000));
    expect(w.ex.lpm4Check()).toBe(0);
  });
});
