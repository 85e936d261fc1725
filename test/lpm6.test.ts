// IPv6 LPM (assembly/lpm/ipv6.ts) against the linear-scan reference (test/reference/lpm.ts).
import { describe, it, expect, beforeAll } from "vitest";
import {
  loadWeft, LpmWasm, Lpm6Ref, Rng, LPM_MISS, addrIn6, maskBytes6, genMix6, MIX6_LENGTHS, ip6,
} from "./reference/lpm.ts";

let w: LpmWasm;
beforeAll(async () => { w = new LpmWasm(await loadWeft()); });

function compare(ref: Lpm6Ref, addrs: Uint8Array[]): number {
  const got = w.batch6(addrs);
  for (let i = 0; i < addrs.length; i++) {
    const want = ref.lookup(addrs[i]);
    if (got[i] !== want) {
      throw new Error(`lookup ${Buffer.from(addrs[i]).toString("hex")}: wasm ${got[i].toString(16)} ref ${want.toString(16)}`);
    }
    if (i % 16 === 0) expect(w.lookup6(addrs[i])).toBe(want);
  }
  return addrs.length;
}

/** Adds `delta` (-1 or +1) to a 128-bit big-endian number. */
function step(a: Uint8Array, delta: 1 | -1): Uint8Array {
  const b = Uint8Array.from(a);
  for (let i = 15; i >= 0; i--) {
    const v = b[i] + delta;
    b[i] = v & 0xff;
    if (v >= 0 && v <= 0xff) break;
  }
  return b;
}
function lastOf(p: Uint8Array, len: number): Uint8Array {
  const m = maskBytes6(p, len);
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, len - 8 * i));
    m[i] |= ~((0xff00 >> bits) & 0xff) & 0xff;
  }
  return m;
}
function randAddr(rng: Rng): Uint8Array {
  const a = new Uint8Array(16);
  for (let i = 0; i < 16; i++) a[i] = rng.int(256);
  return a;
}

function probe(rng: Rng, ref: Lpm6Ref, n: number): Uint8Array[] {
  const routes = ref.list();
  const out: Uint8Array[] = [];
  while (out.length < n) {
    const k = rng.int(10);
    if (k < 2 || routes.length === 0) { out.push(randAddr(rng)); continue; }
    const r = routes[rng.int(routes.length)];
    switch (k) {
      case 2: out.push(maskBytes6(r.prefix, r.len)); break;
      case 3: out.push(lastOf(r.prefix, r.len)); break;
      case 4: out.push(step(maskBytes6(r.prefix, r.len), -1)); break;
      case 5: out.push(step(lastOf(r.prefix, r.len), 1)); break;
      default: out.push(addrIn6(rng, r.prefix, r.len));
    }
  }
  return out;
}

type LenMix = (rng: Rng) => number;
const MIXES: Array<[string, LenMix]> = [
  ["uniform /0-/128", (rng) => rng.int(129)],
  ["realistic mix", (rng) => rng.pick(MIX6_LENGTHS)],
  ["short /0-/24", (rng) => rng.int(25)],
  ["long /56-/128", (rng) => 56 + rng.int(73)],
  ["around 64 (/58-/70)", (rng) => 58 + rng.int(13)],
];

describe("lpm6 differential", () => {
  for (const [name, mix] of MIXES) {
    it(`random inserts/replaces/deletes, ${name}`, () => {
      const rng = new Rng(0x6666 + name.length * 104729);
      const ref = new Lpm6Ref();
      w.ex.lpm6Init(5000);
      const bases = Array.from({ length: 6 }, () => randAddr(rng));
      let lookups = 0;
      for (let op = 0; op < 3000; op++) {
        const k = rng.int(100);
        const live = ref.list();
        if (k < 55 || live.length === 0) {
          const len = mix(rng);
          let prefix = randAddr(rng);                       // host bits set on purpose
          if (rng.int(3) > 0) {                             // cluster under a few bases
            const b = bases[rng.int(bases.length)];
            const keep = rng.int(Math.min(len, 96) + 1);
            const m = maskBytes6(b, keep);
            for (let i = 0; i < 16; i++) {
              const bits = Math.max(0, Math.min(8, keep - 8 * i));
              const mm = (0xff00 >> bits) & 0xff;
              prefix[i] = m[i] | (prefix[i] & ~mm & 0xff);
            }
          }
          if (rng.int(4) === 0 && live.length > 0) {        // nest inside an existing route
            const p = live[rng.int(live.length)];
            if (p.len <= len) prefix = addrIn6(rng, p.prefix, p.len);
          }
          const value = rng.int(8) === 0 ? 0xfffffffe - rng.int(4) : rng.int(1 << 24);
          expect(w.insert6(prefix, len, value)).toBe(0);
          ref.insert(prefix, len, value);
        } else if (k < 65) {
          const r = live[rng.int(live.length)];
          const value = rng.int(5) === 0 ? r.value : rng.int(1 << 24);
          expect(w.insert6(addrIn6(rng, r.prefix, r.len), r.len, value)).toBe(0);
          ref.insert(r.prefix, r.len, value);
        } else if (k < 92) {
          const r = live[rng.int(live.length)];
          expect(w.delete6(addrIn6(rng, r.prefix, r.len), r.len)).toBe(0);
          ref.delete(r.prefix, r.len);
        } else {
          const len = mix(rng);
          const prefix = randAddr(rng);
          if (!ref.has(prefix, len)) expect(w.delete6(prefix, len)).toBe(-4);
        }
        if (op % 200 === 199) {
          expect(w.ex.lpm6Check()).toBe(0);
          expect(w.ex.lpm6Count()).toBe(ref.size);
          lookups += compare(ref, probe(rng, ref, 1400));
        }
      }
      expect(lookups).toBeGreaterThanOrEqual(20_000);
      for (const r of ref.list()) expect(w.delete6(r.prefix, r.len)).toBe(0);
      expect(w.ex.lpm6Count()).toBe(0);
      expect(w.ex.lpm6LiveBytes()).toBe(0);
      expect(w.ex.lpm6Check()).toBe(0);
      expect([...w.batch6(probe(rng, new Lpm6Ref(), 2000))].every((v) => v === LPM_MISS)).toBe(true);
    }, 120_000);
  }

  it("10k realistic routes, then churn: matches the reference", () => {
    const rng = new Rng(60006);
    w.ex.lpm6Init(10_000);
    const routes = genMix6(rng, 10_000);
    const ref = new Lpm6Ref();
    for (const r of routes) { expect(w.insert6(r.prefix, r.len, r.value)).toBe(0); ref.insert(r.prefix, r.len, r.value); }
    expect(w.ex.lpm6Check()).toBe(0);
    compare(ref, probe(rng, ref, 3000));
    for (let i = 0; i < 10_000; i += 3) { const r = routes[i]; expect(w.delete6(r.prefix, r.len)).toBe(0); ref.delete(r.prefix, r.len); }
    for (let i = 0; i < 10_000; i += 6) { const r = routes[i]; expect(w.insert6(r.prefix, r.len, r.value ^ 1)).toBe(0); ref.insert(r.prefix, r.len, r.value ^ 1); }
    expect(w.ex.lpm6Check()).toBe(0);
    expect(w.ex.lpm6Count()).toBe(ref.size);
    compare(ref, probe(rng, ref, 3000));
  }, 120_000);
});

describe("lpm6 edge cases", () => {
  it("batch calls of every length 0..40 (groups of 4 walked in rounds, groups without a root, the tail) match the reference", () => {
    const rng = new Rng(6060);
    const ref = new Lpm6Ref();
    w.ex.lpm6Init(2000);
    // realistic routes plus deep ones (/100../128: chains across depth 64, the longest walks)
    const routes = genMix6(rng, 1200);
    for (let i = 0; i < 200; i++) routes.push({ prefix: addrIn6(rng, routes[rng.int(routes.length)]!.prefix, 32), len: 100 + rng.int(29), value: 7000 + i });
    for (const r of routes) { expect(w.insert6(r.prefix, r.len, r.value)).toBe(0); ref.insert(r.prefix, r.len, r.value); }
    let compared = 0;
    for (let n = 0; n <= 40; n++) compared += compare(ref, probe(rng, ref, n));
    expect(compared).toBe((40 * 41) / 2);
  });
  it("/0, /1, /16, /17, /64, /127, /128, host bits, replace, delete restores the covering prefix", () => {
    w.ex.lpm6Init(100);
    const a = ip6("2001:db8:1:2:3:4:5:6");
    expect(w.lookup6(a)).toBe(LPM_MISS);
    expect(w.insert6(ip6("ffff::1"), 0, 100)).toBe(0);
    expect(w.lookup6(a)).toBe(100);
    expect(w.insert6(ip6("8000::"), 1, 101)).toBe(0);
    expect(w.lookup6(ip6("7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))).toBe(100);
    expect(w.lookup6(ip6("8000::"))).toBe(101);
    expect(w.insert6(ip6("2001:db8::"), 16, 116)).toBe(0);     // = 2001::/16
    expect(w.insert6(ip6("2001:8000::"), 17, 117)).toBe(0);
    expect(w.lookup6(ip6("2001:7fff::1"))).toBe(116);
    expect(w.lookup6(ip6("2001:8000::1"))).toBe(117);
    expect(w.insert6(ip6("2001:db8:1:2:ffff::"), 64, 164)).toBe(0);
    expect(w.insert6(ip6("2001:db8:1:2:3:4:5:7"), 127, 1127)).toBe(0);
    expect(w.insert6(a, 128, 1128)).toBe(0);
    expect(w.lookup6(a)).toBe(1128);
    expect(w.lookup6(ip6("2001:db8:1:2:3:4:5:7"))).toBe(1127);
    expect(w.lookup6(ip6("2001:db8:1:2:3:4:5:5"))).toBe(164);
    expect(w.lookup6(ip6("2001:db8:1:3::"))).toBe(116);
    expect(w.insert6(ip6("2001:db8:1:2:3:4:5:6"), 127, 9127)).toBe(0);    // replace
    expect(w.lookup6(ip6("2001:db8:1:2:3:4:5:7"))).toBe(9127);
    expect(w.delete6(a, 128)).toBe(0);
    expect(w.lookup6(a)).toBe(9127);
    expect(w.delete6(a, 127)).toBe(0);
    expect(w.lookup6(a)).toBe(164);
    expect(w.delete6(a, 64)).toBe(0);
    expect(w.lookup6(a)).toBe(116);
    expect(w.delete6(a, 16)).toBe(0);
    expect(w.lookup6(a)).toBe(100);
    expect(w.delete6(a, 0)).toBe(0);
    expect(w.lookup6(a)).toBe(LPM_MISS);
    expect(w.lookup6(ip6("2001:8000::1"))).toBe(117);
    expect(w.lookup6(ip6("8000::"))).toBe(101);
    expect(w.ex.lpm6Count()).toBe(2);
    expect(w.ex.lpm6Check()).toBe(0);
  });

  it("path compression: chains split at every depth and merge back", () => {
    const rng = new Rng(4242);
    w.ex.lpm6Init(1000);
    const ref = new Lpm6Ref();
    const host = ip6("2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff");
    const add = (p: Uint8Array, l: number, v: number) => { expect(w.insert6(p, l, v)).toBe(0); ref.insert(p, l, v); };
    const near = () => {                                        // addresses on and around the long path
      const out: Uint8Array[] = [];
      for (let l = 0; l <= 128; l++) {
        const a = addrIn6(rng, host, l);
        out.push(a);
        const b = Uint8Array.from(a);
        if (l < 128) { b[l >> 3] ^= 0x80 >> (l & 7); out.push(b); }   // leaves the path at bit l
      }
      return out;
    };
    add(host, 128, 1);                                          // one long chain below the /16 root
    compare(ref, near());
    expect(w.ex.lpm6Check()).toBe(0);
    const lens = Array.from({ length: 111 }, (_, i) => 17 + i); // every length that lands in a chain
    for (const l of lens) {                                     // routes on the path split the chain
      add(host, l, 1000 + l);
      if (l % 7 === 0) { compare(ref, near()); expect(w.ex.lpm6Check()).toBe(0); }
    }
    for (const l of lens) {                                     // siblings branch off it
      const b = maskBytes6(host, l);
      b[(l - 1) >> 3] ^= 0x80 >> ((l - 1) & 7);
      add(b, l, 2000 + l);
    }
    compare(ref, near());
    expect(w.ex.lpm6Check()).toBe(0);
    const all = ref.list();
    for (let i = all.length - 1; i > 0; i--) { const j = rng.int(i + 1); [all[i], all[j]] = [all[j], all[i]]; }
    for (const [i, r] of all.entries()) {                      // and merge back as they go
      expect(w.delete6(r.prefix, r.len)).toBe(0);
      ref.delete(r.prefix, r.len);
      if (i % 9 === 0) { compare(ref, near()); expect(w.ex.lpm6Check()).toBe(0); }
    }
    expect(w.ex.lpm6LiveBytes()).toBe(0);
  });

  it("errors: bad length, bad value, absent prefix", () => {
    w.ex.lpm6Init(10);
    expect(w.insert6(ip6("::"), 129, 1)).toBe(-1);
    expect(w.insert6(ip6("::"), -1, 1)).toBe(-1);
    expect(w.insert6(ip6("::"), 8, LPM_MISS)).toBe(-3);
    expect(w.delete6(ip6("::"), 129)).toBe(-1);
    expect(w.delete6(ip6("2001:db8::"), 32)).toBe(-4);
    expect(w.insert6(ip6("2001:db8::"), 32, 1)).toBe(0);
    expect(w.delete6(ip6("2001:db8::"), 33)).toBe(-4);
    expect(w.delete6(ip6("2001:db8::"), 31)).toBe(-4);
    expect(w.delete6(ip6("2001:db9::"), 32)).toBe(-4);
    expect(w.ex.lpm6Count()).toBe(1);
  });

  it("a full table refuses new prefixes, accepts replaces, and is left intact", () => {
    const rng = new Rng(17);
    w.ex.lpm6Init(40);
    const ref = new Lpm6Ref();
    while (ref.size < 40) {
      const len = rng.int(129), p = randAddr(rng), v = rng.int(1000);
      expect(w.insert6(p, len, v)).toBe(0);
      ref.insert(p, len, v);
    }
    const before = probe(rng, ref, 3000);
    const snapshot = w.batch6(before);
    for (let i = 0; i < 40; i++) {
      const len = rng.int(129), p = randAddr(rng);
      if (!ref.has(p, len)) expect(w.insert6(p, len, 5)).toBe(-2);
    }
    expect(w.ex.lpm6Count()).toBe(40);
    expect(w.batch6(before)).toEqual(snapshot);
    compare(ref, before);
    const r = ref.list()[5];
    expect(w.insert6(r.prefix, r.len, 4242)).toBe(0);
    ref.insert(r.prefix, r.len, 4242);
    compare(ref, probe(rng, ref, 2000));
    expect(w.ex.lpm6Check()).toBe(0);
  });

  it("out of arena memory: ERR_FULL leaves the table exactly as before; compaction reclaims", () => {
    const rng = new Rng(1999);
    w.ex.lpm6InitSized(100_000, 96 << 10);
    const ref = new Lpm6Ref();
    const base = ip6("2001:db8::");
    let failures = 0;
    for (let op = 0; op < 4000; op++) {
      const live = ref.list();
      if (rng.int(3) === 0 && live.length > 0) {
        const r = live[rng.int(live.length)];
        const rc = w.delete6(r.prefix, r.len);
        if (rc === -2) { failures++; continue; }
        expect(rc).toBe(0);
        ref.delete(r.prefix, r.len);
        continue;
      }
      const len = 24 + rng.int(105);
      const p = addrIn6(rng, base, 32);
      const v = rng.int(1 << 20);
      const rc = w.insert6(p, len, v);
      if (rc === -2) {
        failures++;
        if (failures % 25 === 1) { expect(w.ex.lpm6Check()).toBe(0); compare(ref, probe(rng, ref, 400)); }
      } else {
        expect(rc).toBe(0);
        ref.insert(p, len, v);
      }
    }
    expect(failures).toBeGreaterThan(0);
    expect(w.ex.lpm6Compactions()).toBeGreaterThan(0);
    expect(w.ex.lpm6Count()).toBe(ref.size);
    expect(w.ex.lpm6Check()).toBe(0);
    compare(ref, probe(rng, ref, 4000));
  }, 60_000);

  it("re-init resets the table and reuses its memory", () => {
    w.ex.lpm6Init(1000);
    const bytes = w.ex.lpm6MemoryBytes();
    expect(w.insert6(ip6("2001:db8::"), 32, 1)).toBe(0);
    expect(w.insert6(ip6("2001:db8::1"), 128, 2)).toBe(0);
    expect(w.insert6(ip6("::"), 0, 3)).toBe(0);
    const memBefore = w.ex.memory.buffer.byteLength;
    w.ex.lpm6Init(1000);
    expect(w.ex.memory.buffer.byteLength).toBe(memBefore);
    expect(w.ex.lpm6MemoryBytes()).toBe(bytes);
    expect(w.ex.lpm6Count()).toBe(0);
    expect(w.lookup6(ip6("2001:db8::1"))).toBe(LPM_MISS);
    expect(w.lookup6(ip6("3000::"))).toBe(LPM_MISS);
    expect(w.ex.lpm6LiveBytes()).toBe(0);
    expect(w.ex.lpm6Check()).toBe(0);
  });

  it("pod-network shape: /64 per node, /128 per local pod, default route", () => {
    const rng = new Rng(8);
    w.ex.lpm6Init(2000);
    const ref = new Lpm6Ref();
    const add = (p: Uint8Array, l: number, v: number) => { expect(w.insert6(p, l, v)).toBe(0); ref.insert(p, l, v); };
    add(ip6("::"), 0, 1);
    add(ip6("fd00:10:244::"), 48, 2);
    for (let n = 0; n < 256; n++) add(ip6(`fd00:10:244:${n.toString(16)}::`), 64, 1000 + n);
    for (let p = 2; p < 250; p++) add(ip6(`fd00:10:244:7::${p.toString(16)}`), 128, 5000 + p);
    compare(ref, probe(rng, ref, 20_000));
    for (let p = 2; p < 250; p += 3) { const a = ip6(`fd00:10:244:7::${p.toString(16)}`); expect(w.delete6(a, 128)).toBe(0); ref.delete(a, 128); }
    compare(ref, probe(rng, ref, 20_000));
    expect(w.ex.lpm6Check()).toBe(0);
  });
});
