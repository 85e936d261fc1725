// One compliance suite per interface, run against the fakes always and against the Linux
// implementations as root in namespaces (test/io-*.test.ts). A harness factory builds a fresh
// pair per test and tears it down afterwards.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { IoClosedError } from "../errors.ts";
import { uniformSlots } from "../slots.ts";
import type { PacketBatchIO, SlotList, TunDevice, TunKind, Underlay } from "../types.ts";
import { parseUdp, payloadSeq, seqPayload, writeEthernet, writeUdp } from "./packets.ts";

const SLOT = 2048;
const BATCH = 256;

/** A memory like the Wasm one: slots of 2 KiB with 128 bytes of headroom. */
export function makeMemory(slots = 2 * BATCH): { mem: Uint8Array; rx: SlotList; tx: SlotList } {
  const mem = new Uint8Array(slots * SLOT + 4096);
  const rx = uniformSlots(BATCH, 4096, SLOT, 128);
  const tx = uniformSlots(BATCH, 4096 + BATCH * SLOT, SLOT, 128);
  return { mem, rx, tx };
}

/** Reads into slots [0, want) until `want` packets arrived or `timeoutMs` passed; returns the count. */
export function readUntil(io: PacketBatchIO, mem: Uint8Array, slots: SlotList, want: number, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve, reject) => {
    let got = 0;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      io.onReadable(null);
      resolve(got);
    };
    const timer = setTimeout(finish, timeoutMs);
    const pump = (): void => {
      try {
        got += io.readBatch(mem, slots, got, want - got);
      } catch (e) {
        done = true;
        clearTimeout(timer);
        io.onReadable(null);
        reject(e);
        return;
      }
      if (got >= want) finish();
    };
    io.onReadable(pump);
  });
}

/** Resolves when `io` becomes readable (true) or after `timeoutMs` (false); reads nothing. */
export function waitReadable(io: PacketBatchIO, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      io.onReadable(null);
      resolve(false);
    }, timeoutMs);
    io.onReadable(() => {
      clearTimeout(timer);
      io.onReadable(null);
      resolve(true);
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---- TunDevice ---------------------------------------------------------------------------------

export interface TunHarness {
  device: TunDevice;
  /** The kernel's side of the device: what it writes the device reads, and the reverse. */
  peer: PacketBatchIO;
  close(): void;
}

/** Writes test packet `seq` for a device of `kind` at mem[off]; returns its length. */
export function writeTunTestPacket(kind: TunKind, mem: Uint8Array, off: number, seq: number, size = 100): number {
  if (kind === "tun")
    return writeUdp(mem, off, { src: "198.51.100.1", dst: "192.0.2.1", sport: 40000, dport: 9, payload: seqPayload(seq, size - 28) });
  const h = writeEthernet(mem, off, "02:00:00:00:00:02", "02:00:00:00:00:01", 0x88b5);
  mem.set(seqPayload(seq, size - h), off + h);
  return size;
}

function testSeq(kind: TunKind, mem: Uint8Array, off: number): number {
  return payloadSeq(mem.subarray(off + (kind === "tun" ? 28 : 14)));
}

export function tunDeviceCompliance(label: string, kind: TunKind, make: () => TunHarness): void {
  describe(`TunDevice compliance: ${label} (${kind})`, () => {
    let h: TunHarness;
    beforeEach(() => {
      h = make();
    });
    afterEach(() => {
      h.close();
    });

    it("reports its name and kind", () => {
      expect(h.device.kind).toBe(kind);
      expect(h.device.name.length).toBeGreaterThan(0);
      expect(h.device.closed).toBe(false);
    });

    it("reads a batch of 256 packets the other side sent, in one call, bytes intact", async () => {
      const { mem, rx, tx } = makeMemory();
      for (let i = 0; i < BATCH; i++) tx.lengths[i] = writeTunTestPacket(kind, mem, tx.offsets[i]!, i, 60 + i);
      expect(h.peer.writeBatch(mem, tx, 0, BATCH)).toBe(BATCH);
      expect(await waitReadable(h.device)).toBe(true);
      await sleep(20);
      expect(h.device.readBatch(mem, rx, 0, BATCH)).toBe(BATCH);
      for (let i = 0; i < BATCH; i++) {
        expect(rx.lengths[i]).toBe(tx.lengths[i]);
        const a = mem.subarray(rx.offsets[i]!, rx.offsets[i]! + rx.lengths[i]!);
        const b = mem.subarray(tx.offsets[i]!, tx.offsets[i]! + tx.lengths[i]!);
        expect(Buffer.compare(a, b)).toBe(0);
      }
      expect(h.device.stats.packets).toBe(BATCH);
      expect(h.device.readBatch(mem, rx, 0, BATCH)).toBe(0);
    });

    it("writes a batch of 256 packets that the other side receives in order", async () => {
      const { mem, rx, tx } = makeMemory();
      for (let i = 0; i < BATCH; i++) tx.lengths[i] = writeTunTestPacket(kind, mem, tx.offsets[i]!, 1000 + i, 80);
      expect(h.device.writeBatch(mem, tx, 0, BATCH)).toBe(BATCH);
      expect(h.device.stats.packets).toBe(BATCH);
      expect(h.device.stats.bytes).toBe(BATCH * 80);
      expect(await readUntil(h.peer, mem, rx, BATCH)).toBe(BATCH);
      for (let i = 0; i < BATCH; i++) {
        expect(rx.lengths[i]).toBe(80);
        expect(testSeq(kind, mem, rx.offsets[i]!)).toBe(1000 + i);
      }
    });

    it("honours start/count and per-slot capacities", async () => {
      const { mem, rx, tx } = makeMemory();
      for (let i = 0; i < 10; i++) tx.lengths[i] = writeTunTestPacket(kind, mem, tx.offsets[i]!, i, 100);
      expect(h.peer.writeBatch(mem, tx, 3, 4)).toBe(4);  // packets 3..6
      const caps = new Uint32Array(BATCH).fill(SLOT - 128);
      const slots: SlotList = { offsets: rx.offsets, lengths: rx.lengths, capacity: caps };
      rx.lengths.fill(0xdead);
      expect(await readUntil(h.device, mem, { ...slots, offsets: rx.offsets.subarray(5), lengths: rx.lengths.subarray(5), capacity: caps.subarray(5) }, 4)).toBe(4);
      expect(rx.lengths[4]).toBe(0xdead);
      expect(rx.lengths[9]).toBe(0xdead);
      for (let i = 0; i < 4; i++) expect(testSeq(kind, mem, rx.offsets[5 + i]!)).toBe(3 + i);
    });

    it("delivers a packet larger than its slot as length 0, counted, and the next one intact", async () => {
      const { mem, rx, tx } = makeMemory();
      tx.lengths[0] = writeTunTestPacket(kind, mem, tx.offsets[0]!, 0, 300);
      tx.lengths[1] = writeTunTestPacket(kind, mem, tx.offsets[1]!, 1, 100);
      expect(h.peer.writeBatch(mem, tx, 0, 2)).toBe(2);
      expect(await readUntil(h.device, mem, { ...rx, capacity: 200 }, 2)).toBe(2);
      expect(rx.lengths[0]).toBe(0);
      expect(rx.lengths[1]).toBe(100);
      expect(testSeq(kind, mem, rx.offsets[1]!)).toBe(1);
      expect(h.device.stats.truncated).toBe(1);
      expect(h.device.stats.packets).toBe(1);
    });

    it("returns 0 without error when nothing waits (EAGAIN is not an error)", () => {
      const { mem, rx } = makeMemory();
      expect(h.device.readBatch(mem, rx, 0, BATCH)).toBe(0);
      expect(h.device.readBatch(mem, rx, 0, 0)).toBe(0);
      expect(h.device.stats.wouldBlock).toBeGreaterThanOrEqual(1);
    });

    it("rejects slots outside the memory with RangeError and moves nothing", () => {
      const { mem, tx } = makeMemory();
      tx.lengths[0] = writeTunTestPacket(kind, mem, tx.offsets[0]!, 0);
      const bad: SlotList = { offsets: Uint32Array.of(tx.offsets[0]!, mem.length - 10), lengths: Uint32Array.of(tx.lengths[0]!, 100), capacity: 100 };
      expect(() => h.device.writeBatch(mem, bad, 0, 2)).toThrow(RangeError);
      expect(() => h.device.readBatch(mem, bad, 0, 2)).toThrow(RangeError);
      expect(() => h.device.readBatch(mem, bad, 1, 5)).toThrow(RangeError);
      expect(h.device.stats.packets).toBe(0);
    });

    it("fires onWritable once", async () => {
      let calls = 0;
      await new Promise<void>((resolve) => {
        h.device.onWritable(() => {
          calls++;
          resolve();
        });
      });
      await sleep(20);
      expect(calls).toBe(1);
    });

    it("close is idempotent and later calls throw IoClosedError", () => {
      const { mem, rx } = makeMemory();
      h.device.close();
      h.device.close();
      expect(h.device.closed).toBe(true);
      expect(() => h.device.readBatch(mem, rx, 0, 1)).toThrow(IoClosedError);
      expect(() => h.device.writeBatch(mem, rx, 0, 1)).toThrow(IoClosedError);
      expect(() => h.device.onReadable(() => {})).toThrow(IoClosedError);
    });
  });
}

// ---- Underlay ----------------------------------------------------------------------------------

export interface UnderlayHarness {
  a: Underlay;
  b: Underlay;
  /** Addresses of a and b. */
  a4: string;
  b4: string;
  a6: string;
  b6: string;
  close(): void;
}

/**
 * 240 datagrams from a to b in one batch: runs of 40 and 7 full-sized datagrams of one flow (the
 * last of a run shorter), IPv6 runs with a flow label, TOS and TTL, singles of other flows in
 * between, and a run longer than 64 segments. payload seq = index in the batch.
 */
export function underlayRunPlan(h: Pick<UnderlayHarness, "a4" | "b4" | "a6" | "b6" | "b">): UdpSpecPlan[] {
  const plan: UdpSpecPlan[] = [];
  const add = (v6: boolean, sport: number, size: number, extra: Partial<UdpSpecPlan> = {}): void => {
    const seq = plan.length;
    plan.push({ src: v6 ? h.a6 : h.a4, dst: v6 ? h.b6 : h.b4, sport, dport: h.b.port, payload: seqPayload(seq, size), ...extra });
  };
  for (let i = 0; i < 40; i++) add(false, 40001, i === 39 ? 300 : 1400);
  add(false, 40002, 1400);
  add(true, 40003, 100);
  for (let i = 0; i < 7; i++) add(true, 40004, 1200, { flowLabel: 0x54321, tos: 0x28, ttl: 33 });
  for (let i = 0; i < 5; i++) add(false, 40005, 1000, { tos: 0x10, ttl: 17 });
  for (let i = 0; i < 5; i++) add(false, 40006, 1000, { tos: 0x10, ttl: 17, id: i + 1 });
  add(false, 40001, 1400);
  for (let i = 0; i < 100; i++) add(false, 40007, 200);  // more than 64 segments
  for (let i = 0; i < 40; i++) add(true, 40008, 1300, { flowLabel: 0xabcde });
  for (let i = 0; i < 36; i++) add(i % 2 === 0, 40010 + i, 64);
  return plan;
}
type UdpSpecPlan = Parameters<typeof writeUdp>[2];

export function underlayCompliance(label: string, make: () => UnderlayHarness): void {
  describe(`Underlay compliance: ${label}`, () => {
    let h: UnderlayHarness;
    beforeEach(() => {
      h = make();
    });
    afterEach(() => {
      h.close();
    });

    for (const fam of [4, 6] as const) {
      it(`carries a batch of 256 IPv${fam} packets as full IP packets with the sender's header fields`, async () => {
        const { mem, rx, tx } = makeMemory();
        const [src, dst] = fam === 4 ? [h.a4, h.b4] : [h.a6, h.b6];
        for (let i = 0; i < BATCH; i++)
          tx.lengths[i] = writeUdp(mem, tx.offsets[i]!, {
            src, dst, sport: 32768 + i * 97, dport: h.b.port, ttl: 60 + (i % 4), tos: 0x10 + (i % 2),
            flowLabel: fam === 6 ? 0x12345 + i : 0, udpChecksum: i % 2 === 0, payload: seqPayload(i, 50 + (i % 64)),
          });
        expect(h.a.sendBatch(mem, tx, 0, BATCH)).toBe(BATCH);
        expect(h.a.stats.errors).toBe(0);
        expect(await readUntil(h.b, mem, rx, BATCH)).toBe(BATCH);
        for (let i = 0; i < BATCH; i++) {
          const p = parseUdp(mem, rx.offsets[i]!, rx.lengths[i]!);
          expect(p.version).toBe(fam);
          expect(p.src).toBe(src);
          expect(p.dst).toBe(dst);
          expect(p.sport).toBe(32768 + i * 97);
          expect(p.dport).toBe(h.b.port);
          expect(p.ttl).toBe(60 + (i % 4));
          expect(p.tos).toBe(0x10 + (i % 2));
          if (fam === 6) expect(p.flowLabel).toBe(0x12345 + i);
          expect(p.ipTotalLength).toBe(rx.lengths[i]);
          expect(p.ipChecksumOk).toBe(true);
          expect(p.udpChecksumOk).toBe(true);
          if (fam === 4) expect(p.udpChecksum).toBe(0);
          expect(p.udpLength).toBe(8 + 50 + (i % 64));
          expect(payloadSeq(p.payload)).toBe(i);
          expect(Buffer.compare(p.payload, seqPayload(i, 50 + (i % 64)))).toBe(0);
        }
        expect(h.b.stats.packets).toBe(BATCH);
      });
    }

    it("sends a mixed IPv4/IPv6 batch in one call; order within a family is kept", async () => {
      const { mem, rx, tx } = makeMemory();
      const n = 64;
      for (let i = 0; i < n; i++) {
        const v6 = (i >> 2) % 2 === 1;
        tx.lengths[i] = writeUdp(mem, tx.offsets[i]!, {
          src: v6 ? h.a6 : h.a4, dst: v6 ? h.b6 : h.b4, sport: 50000 + i, dport: h.b.port, payload: seqPayload(i, 40),
        });
      }
      expect(h.a.sendBatch(mem, tx, 0, n)).toBe(n);
      expect(await readUntil(h.b, mem, rx, n)).toBe(n);
      const seen4: number[] = [];
      const seen6: number[] = [];
      for (let i = 0; i < n; i++) {
        const p = parseUdp(mem, rx.offsets[i]!, rx.lengths[i]!);
        (p.version === 4 ? seen4 : seen6).push(payloadSeq(p.payload));
      }
      expect(seen4).toEqual([...Array(n).keys()].filter((i) => (i >> 2) % 2 === 0));
      expect(seen6).toEqual([...Array(n).keys()].filter((i) => (i >> 2) % 2 === 1));
    });

    it("carries runs of equal-sized datagrams of one flow (what UDP GSO batches) mixed with singles, IPv4 and IPv6: each exactly once, in order per flow, bytes and header fields intact", async () => {
      const { mem, rx, tx } = makeMemory();
      const plan = underlayRunPlan(h);
      for (let i = 0; i < plan.length; i++) tx.lengths[i] = writeUdp(mem, tx.offsets[i]!, plan[i]!);
      expect(h.a.sendBatch(mem, tx, 0, plan.length)).toBe(plan.length);
      expect(h.a.stats.errors).toBe(0);
      expect(await readUntil(h.b, mem, rx, plan.length, 5000)).toBe(plan.length);
      expect(h.b.recvBatch(mem, rx, plan.length, 8)).toBe(0);  // nothing more, nothing twice
      const perFlow = new Map<string, number[]>();
      for (let i = 0; i < plan.length; i++) {
        const p = parseUdp(mem, rx.offsets[i]!, rx.lengths[i]!);
        const seq = payloadSeq(p.payload);
        const want = plan[seq]!;
        expect(p.src).toBe(want.src);
        expect(p.dst).toBe(want.dst);
        expect(p.sport).toBe(want.sport);
        expect(p.ttl).toBe(want.ttl ?? 64);
        expect(p.tos).toBe(want.tos ?? 0);
        expect(p.flowLabel).toBe(want.flowLabel ?? 0);
        expect(p.ipChecksumOk && p.udpChecksumOk).toBe(true);
        expect(Buffer.compare(p.payload, want.payload)).toBe(0);
        const key = `${p.src}:${p.sport}`;
        perFlow.set(key, [...(perFlow.get(key) ?? []), seq]);
      }
      const seen = [...perFlow.values()].flat().sort((x, y) => x - y);
      expect(seen).toEqual([...plan.keys()]);
      for (const seqs of perFlow.values()) expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    });

    it("drops malformed packets individually and sends the rest", async () => {
      const { mem, rx, tx } = makeMemory();
      for (let i = 0; i < 8; i++)
        tx.lengths[i] = writeUdp(mem, tx.offsets[i]!, { src: h.a4, dst: h.b4, sport: 1000 + i, dport: h.b.port, payload: seqPayload(i, 30) });
      mem[tx.offsets[2]!] = 0x00;  // version 0
      tx.lengths[5] = 10;  // shorter than an IP header
      expect(h.a.sendBatch(mem, tx, 0, 8)).toBe(8);
      expect(h.a.stats.errors).toBe(2);
      expect(h.a.stats.packets).toBe(6);
      expect(await readUntil(h.b, mem, rx, 6)).toBe(6);
      const seqs = [...Array(6).keys()].map((i) => payloadSeq(parseUdp(mem, rx.offsets[i]!, rx.lengths[i]!).payload));
      expect(seqs).toEqual([0, 1, 3, 4, 6, 7]);
    });

    it("does not deliver datagrams for another UDP port", async () => {
      const { mem, rx, tx } = makeMemory();
      tx.lengths[0] = writeUdp(mem, tx.offsets[0]!, { src: h.a4, dst: h.b4, sport: 1, dport: h.b.port + 1, payload: seqPayload(0, 20) });
      tx.lengths[1] = writeUdp(mem, tx.offsets[1]!, { src: h.a4, dst: h.b4, sport: 1, dport: h.b.port, payload: seqPayload(1, 20) });
      expect(h.a.sendBatch(mem, tx, 0, 2)).toBe(2);
      expect(await readUntil(h.b, mem, rx, 2, 300)).toBe(1);
      expect(payloadSeq(parseUdp(mem, rx.offsets[0]!, rx.lengths[0]!).payload)).toBe(1);
    });

    it("delivers a datagram larger than its slot as length 0 and counts it", async () => {
      const { mem, rx, tx } = makeMemory();
      tx.lengths[0] = writeUdp(mem, tx.offsets[0]!, { src: h.a4, dst: h.b4, sport: 7, dport: h.b.port, payload: seqPayload(0, 1000) });
      tx.lengths[1] = writeUdp(mem, tx.offsets[1]!, { src: h.a4, dst: h.b4, sport: 7, dport: h.b.port, payload: seqPayload(1, 100) });
      expect(h.a.sendBatch(mem, tx, 0, 2)).toBe(2);
      const small: SlotList = { offsets: rx.offsets, lengths: rx.lengths, capacity: 600 };
      expect(await readUntil(h.b, mem, small, 2)).toBe(2);
      expect(rx.lengths[0]).toBe(0);
      expect(rx.lengths[1]).toBe(28 + 100);
      expect(h.b.stats.truncated).toBe(1);
    });

    it("returns 0 when nothing waits; recvBatch/sendBatch are readBatch/writeBatch", () => {
      const { mem, rx } = makeMemory();
      expect(h.b.recvBatch(mem, rx, 0, BATCH)).toBe(0);
      expect(h.b.readBatch(mem, rx, 0, BATCH)).toBe(0);
      expect(h.a.sendBatch(mem, rx, 0, 0)).toBe(0);
    });

    it("close is idempotent and later calls throw IoClosedError", () => {
      const { mem, rx } = makeMemory();
      h.b.close();
      h.b.close();
      expect(h.b.closed).toBe(true);
      expect(() => h.b.recvBatch(mem, rx, 0, 1)).toThrow(IoClosedError);
      expect(() => h.b.sendBatch(mem, rx, 0, 1)).toThrow(IoClosedError);
    });
  });
}
