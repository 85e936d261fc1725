// UDP GSO on underlay send and UDP GRO on underlay receive (docs/OFFLOADS.md, "Underlay UDP GSO
// and GRO"), against the kernel: two underlays in fresh namespaces over veth (root).
import { afterEach, expect, it } from "vitest";
import { makeMemory, readUntil, underlayRunPlan } from "../host/io/testing/compliance.ts";
import { canUseNetns } from "../host/io/testing/netns.ts";
import { parseUdp, payloadSeq, seqPayload, writeUdp } from "../host/io/testing/packets.ts";
import type { LinuxUnderlay, UnderlayOptions } from "../host/io/linux/underlay.ts";
import type { SlotList } from "../host/io/types.ts";
import { loadNative } from "../host/native/index.ts";
import { describeRequiring } from "./helpers/require.ts";
import { vethUnderlays, type VethUnderlays } from "./helpers/underlay-pair.ts";

const root = canUseNetns();
if (root) loadNative();

describeRequiring(!root)("underlay UDP GSO / GRO (root, namespaces)", () => {
  let h: VethUnderlays | undefined;
  const pair = (a: UnderlayOptions, b: UnderlayOptions = {}): VethUnderlays => (h = vethUnderlays(a, b));
  afterEach(() => { h?.close(); h = undefined; });

  /** n datagrams of one flow a -> b (IPv4 or IPv6), payload `size` bytes, seq = index. */
  const fill = (mem: Uint8Array, tx: SlotList, x: VethUnderlays, n: number, size: number, v6 = false, sport = 45000): void => {
    for (let i = 0; i < n; i++)
      tx.lengths[i] = writeUdp(mem, tx.offsets[i]!, {
        src: v6 ? x.a6 : x.a4, dst: v6 ? x.b6 : x.b4, sport, dport: x.b.port, payload: seqPayload(i, size), flowLabel: v6 ? 0x1abcd : 0,
      });
  };

  it("probes at start and reports both offloads active on this kernel", () => {
    const x = pair({ udpGso: true, udpGro: true }, { udpGro: true });
    const s = (x.a as LinuxUnderlay).udpOffloads();
    expect(s.gso).toEqual({ requested: true, active: true, reason: "" });
    expect(s.gro).toEqual({ requested: true, active: true, reason: "" });
    expect((x.b as LinuxUnderlay).udpOffloads().gso).toEqual({ requested: false, active: false, reason: "" });
  });

  for (const v6 of [false, true]) {
    it(`a GSO run (IPv${v6 ? 6 : 4}) leaves in one syscall and reaches a plain UDP receiver as N datagrams: bytes, source port, flow label, order`, async () => {
      const x = pair({ udpGso: true });
      const { mem, rx, tx } = makeMemory();
      fill(mem, tx, x, 44, 1400, v6);
      tx.lengths[43] = writeUdp(mem, tx.offsets[43]!, { src: v6 ? x.a6 : x.a4, dst: v6 ? x.b6 : x.b4, sport: 45000, dport: x.b.port, payload: seqPayload(43, 517), flowLabel: v6 ? 0x1abcd : 0 });
      expect(x.a.sendBatch(mem, tx, 0, 44)).toBe(44);
      expect(x.a.stats.gsoSends).toBe(1);
      expect(x.a.stats.gsoSegments).toBe(44);
      expect(x.a.stats.syscalls).toBe(1);
      expect(x.a.stats.packets).toBe(44);
      expect(await readUntil(x.b, mem, rx, 44)).toBe(44);
      for (let i = 0; i < 44; i++) {
        const p = parseUdp(mem, rx.offsets[i]!, rx.lengths[i]!);
        expect(payloadSeq(p.payload)).toBe(i);
        expect(Buffer.compare(p.payload, seqPayload(i, i === 43 ? 517 : 1400))).toBe(0);
        expect(p.sport).toBe(45000);
        expect(p.ttl).toBe(64);
        if (v6) expect(p.flowLabel).toBe(0x1abcd);
      }
      expect(x.b.stats.groDatagrams).toBe(0);  // no UDP_GRO on b: the kernel cut it back into datagrams
    });
  }

  it("GRO receive splits a coalesced datagram into the exact segments, in order", async () => {
    const x = pair({ udpGso: true }, { udpGro: true });
    const { mem, rx, tx } = makeMemory();
    fill(mem, tx, x, 40, 1300);
    expect(x.a.sendBatch(mem, tx, 0, 40)).toBe(40);
    expect(await readUntil(x.b, mem, rx, 40)).toBe(40);
    expect(x.b.stats.groDatagrams).toBe(1);
    expect(x.b.stats.groSegments).toBe(40);
    expect(x.b.stats.syscalls).toBeLessThanOrEqual(3);
    for (let i = 0; i < 40; i++) {
      const p = parseUdp(mem, rx.offsets[i]!, rx.lengths[i]!);
      expect(p.ipTotalLength).toBe(28 + 1300);
      expect(p.ipChecksumOk).toBe(true);
      expect(p.sport).toBe(45000);
      expect(Buffer.compare(p.payload, seqPayload(i, 1300))).toBe(0);
    }
  });

  it("GRO keeps segments that do not fit a call's slots for the next call (and wakes the reader for them): nothing lost, nothing reordered", async () => {
    const x = pair({ udpGso: true }, { udpGro: true });
    const { mem, rx, tx } = makeMemory();
    const plan = underlayRunPlan(x);
    for (let i = 0; i < plan.length; i++) tx.lengths[i] = writeUdp(mem, tx.offsets[i]!, plan[i]!);
    expect(x.a.sendBatch(mem, tx, 0, plan.length)).toBe(plan.length);
    // One call of at most 7 slots per readiness callback: segments left in the GRO state must be
    // delivered by later callbacks even when the socket itself is already empty.
    let got = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { x.b.onReadable(null); reject(new Error(`only ${got} of ${plan.length} arrived`)); }, 5000);
      x.b.onReadable(() => {
        got += x.b.readBatch(mem, rx, got, Math.min(7, plan.length - got));
        if (got === plan.length) { clearTimeout(timer); x.b.onReadable(null); resolve(); }
      });
    });
    expect(x.b.readBatch(mem, rx, got, 8)).toBe(0);
    expect((x.b as LinuxUnderlay).groPending).toBe(false);
    expect(x.b.stats.groDatagrams).toBeGreaterThan(0);
    const perFlow = new Map<string, number[]>();
    for (let i = 0; i < plan.length; i++) {
      const p = parseUdp(mem, rx.offsets[i]!, rx.lengths[i]!);
      const seq = payloadSeq(p.payload);
      expect(Buffer.compare(p.payload, plan[seq]!.payload)).toBe(0);
      expect(p.sport).toBe(plan[seq]!.sport);
      const k = `${p.src}:${p.sport}`;
      perFlow.set(k, [...(perFlow.get(k) ?? []), seq]);
    }
    expect([...perFlow.values()].flat().sort((a, b) => a - b)).toEqual([...plan.keys()]);
    for (const s of perFlow.values()) expect(s).toEqual([...s].sort((a, b) => a - b));
  });

  it("GRO in place: after a coalesced datagram the next ones of that segment size land straight in their slots; a changed size, a longer plain datagram and too few slots still arrive exactly", async () => {
    const x = pair({ udpGso: true }, { udpGro: true });
    const { mem, rx, tx } = makeMemory();
    let seq = 0;
    /** Sends one datagram of `n` segments of `size` (the last `last` bytes), or one plain datagram when n is 1. */
    const send = (n: number, size: number, last = size): Uint8Array[] => {
      const sent: Uint8Array[] = [];
      for (let i = 0; i < n; i++) {
        const payload = seqPayload(seq++, i === n - 1 ? last : size);
        sent.push(payload);
        tx.lengths[i] = writeUdp(mem, tx.offsets[i]!, { src: x.a4, dst: x.b4, sport: 45000, dport: x.b.port, payload });
      }
      expect(x.a.sendBatch(mem, tx, 0, n)).toBe(n);
      return sent;
    };
    /** Reads `sent.length` packets, at most `per` slots per call, and checks them against `sent`. */
    const receive = async (sent: Uint8Array[], per = 256): Promise<void> => {
      let got = 0;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { x.b.onReadable(null); reject(new Error(`only ${got} of ${sent.length} arrived`)); }, 5000);
        x.b.onReadable(() => {
          got += x.b.readBatch(mem, rx, got, Math.min(per, sent.length - got));
          if (got === sent.length) { clearTimeout(timer); x.b.onReadable(null); resolve(); }
        });
      });
      for (let i = 0; i < sent.length; i++) {
        const p = parseUdp(mem, rx.offsets[i]!, rx.lengths[i]!);
        expect(p.ipTotalLength).toBe(28 + sent[i]!.length);
        expect(p.ipChecksumOk).toBe(true);
        expect(p.sport).toBe(45000);
        expect(Buffer.compare(p.payload, sent[i]!)).toBe(0);
      }
      expect((x.b as LinuxUnderlay).groPending).toBe(false);
    };
    const inPlace = (): number => x.b.stats.groInPlace;

    await receive(send(40, 1300));          // the first coalesced datagram goes through the staging area
    expect(x.b.stats.groSegments).toBe(40);
    expect(inPlace()).toBe(0);
    await receive(send(40, 1300, 700));     // same segment size: every segment in place
    expect(inPlace()).toBe(40);
    expect(x.b.stats.groSegments).toBe(80);
    await receive(send(30, 1300), 7);       // 7 slots per call: 7 in place, 23 from the spill, in order
    expect(inPlace()).toBe(47);
    expect(x.b.stats.groSegments).toBe(110);
    await receive(send(20, 1000, 999));     // the segment size changed: gathered, then split
    expect(inPlace()).toBe(47);
    expect(x.b.stats.groSegments).toBe(130);
    await receive(send(20, 1000));          // and in place again at the new size
    expect(inPlace()).toBe(67);
    await receive(send(1, 1400));           // one plain datagram longer than a predicted segment: gathered
    await receive(send(1, 0));              // an empty one, in place
    await receive(send(12, 1000));          // a few plain ones do not end the prediction
    expect(inPlace()).toBe(79);
    for (let i = 0; i < 8; i++) await receive(send(1, 600));  // 8 plain ones in a row do: back to recvmmsg
    await receive(send(10, 1000));
    expect(inPlace()).toBe(79);
    await receive(send(10, 1000));
    expect(inPlace()).toBe(89);
    expect(x.b.stats.groDatagrams).toBe(8);
    expect(x.b.stats.groSegments).toBe(182);
    expect(x.b.stats.truncated).toBe(0);
    expect(x.b.stats.kernelDrops).toBe(0);
  });

  it("a kernel that refuses GSO (EIO, forced): the run goes out packet by packet, GSO switches itself off and says why", async () => {
    const x = pair({ udpGso: true, forceGsoRefusal: true });
    const { mem, rx, tx } = makeMemory();
    fill(mem, tx, x, 20, 1000);
    expect(x.a.sendBatch(mem, tx, 0, 20)).toBe(20);
    expect(x.a.stats.gsoFallbacks).toBe(1);
    expect(x.a.stats.gsoSends).toBe(0);
    expect(x.a.stats.errors).toBe(0);
    const st = (x.a as LinuxUnderlay).udpOffloads().gso;
    expect(st.active).toBe(false);
    expect(st.reason).toMatch(/EIO/);
    expect(await readUntil(x.b, mem, rx, 20)).toBe(20);
    for (let i = 0; i < 20; i++) expect(payloadSeq(parseUdp(mem, rx.offsets[i]!, rx.lengths[i]!).payload)).toBe(i);
    // Off for good: the next run is sent the raw way without trying GSO.
    const before = x.a.stats.syscalls;
    expect(x.a.sendBatch(mem, tx, 0, 20)).toBe(20);
    expect(x.a.stats.gsoFallbacks).toBe(1);
    expect(x.a.stats.syscalls - before).toBe(1);  // one sendmmsg
    expect(await readUntil(x.b, mem, rx, 20)).toBe(20);
  });

  it("a source port that cannot be bound (another socket holds it) falls back to the raw path for that port, counted", async () => {
    const x = pair({ udpGso: true });
    const n = loadNative();
    const holder = n.openUdp(4, x.a4, 45000, 0, 0, false, x.nsA.path);
    try {
      const { mem, rx, tx } = makeMemory();
      fill(mem, tx, x, 10, 800);
      expect(x.a.sendBatch(mem, tx, 0, 10)).toBe(10);
      expect(x.a.stats.gsoFallbacks).toBe(1);
      expect(x.a.stats.gsoSends).toBe(0);
      expect((x.a as LinuxUnderlay).udpOffloads().gso.active).toBe(true);  // a port problem, not a kernel one
      expect(await readUntil(x.b, mem, rx, 10)).toBe(10);
      for (let i = 0; i < 10; i++) {
        const p = parseUdp(mem, rx.offsets[i]!, rx.lengths[i]!);
        expect(p.sport).toBe(45000);
        expect(payloadSeq(p.payload)).toBe(i);
      }
      fill(mem, tx, x, 10, 800, false, 45001);  // another port binds fine
      expect(x.a.sendBatch(mem, tx, 0, 10)).toBe(10);
      expect(x.a.stats.gsoSends).toBe(1);
      expect(await readUntil(x.b, mem, rx, 10)).toBe(10);
    } finally {
      n.closeFd(holder.fd);
    }
  });

  it("keeps at most gsoSockets send sockets (LRU) and every packet still arrives", async () => {
    const x = pair({ udpGso: true, gsoSockets: 4 });
    const { mem, rx, tx } = makeMemory();
    let k = 0;
    for (let flow = 0; flow < 10; flow++)
      for (let i = 0; i < 3; i++, k++)
        tx.lengths[k] = writeUdp(mem, tx.offsets[k]!, { src: x.a4, dst: x.b4, sport: 46000 + flow, dport: x.b.port, payload: seqPayload(k, 500) });
    expect(x.a.sendBatch(mem, tx, 0, k)).toBe(k);
    expect(x.a.stats.gsoSends).toBe(10);
    expect(loadNative().gsoInfo((x.a as LinuxUnderlay)["udp"].gsoId)).toMatchObject({ sockets: 4, socketsOpened: 10, bindFailures: 0 });
    expect(await readUntil(x.b, mem, rx, k)).toBe(k);
    const seqs = [...Array(k).keys()].map((i) => payloadSeq(parseUdp(mem, rx.offsets[i]!, rx.lengths[i]!).payload)).sort((a, b) => a - b);
    expect(seqs).toEqual([...Array(k).keys()]);
  });
});
