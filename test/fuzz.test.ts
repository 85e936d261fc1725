// Property tests: random and mutated frames on every port never trap the module; in every batch
// each input gets exactly one verdict (drops with a named reason), the drop counters grow by the
// number of drops, TX entries lie inside packet memory, and memory never grows.
import { describe, it, expect } from "vitest";
import { makeNode, NODE, POD_A, PEER4, PEER6 } from "./helpers/node.ts";
import * as F from "./helpers/frames.ts";
import { prng, randInt } from "./helpers/prng.ts";
import { PORT_HOST, PORT_UNDERLAY, BATCH_MAX, DROP_REASONS } from "../host/wasm/abi.ts";

const R = NODE.routerMac;
const PER_PORT = Number(process.env.WEFT_FUZZ_PER_PORT ?? 1_000_000);

function seeds(): { port: number; bytes: Uint8Array }[] {
  const a4 = POD_A.ipv4, a6 = POD_A.ipv6;
  const inner4 = F.eth(NODE.vtepMac, PEER4.vtepMac, 0x0800, F.ipv4("10.244.2.7", a4, 17, F.udp("10.244.2.7", a4, 53, 5000, new Uint8Array(40))));
  const inner6 = F.eth(NODE.vtepMac, PEER6.vtepMac, 0x86dd, F.ipv6("fd00:10:244:3::9", a6, 6, F.tcpSyn("fd00:10:244:3::9", a6, 1, 2)));
  const sn = "ff02::1:ff00:1";
  return [
    { port: POD_A.port, bytes: F.eth(R, POD_A.mac, 0x0800, F.ipv4(a4, "10.244.2.7", 17, F.udp(a4, "10.244.2.7", 1, 2, new Uint8Array(64)))) },
    { port: POD_A.port, bytes: F.eth(R, POD_A.mac, 0x0800, F.ipv4(a4, "10.244.1.3", 6, F.tcpSyn(a4, "10.244.1.3", 1, 2), { ttl: 1 })) },
    { port: POD_A.port, bytes: F.eth(R, POD_A.mac, 0x0800, F.ipv4(a4, "10.244.2.7", 17, F.udp(a4, "10.244.2.7", 1, 2, new Uint8Array(1420)))) },
    { port: POD_A.port, bytes: F.eth("ff:ff:ff:ff:ff:ff", POD_A.mac, 0x0806, F.arpRequest(POD_A.mac, a4, NODE.gateway4!)) },
    { port: POD_A.port, bytes: F.eth("33:33:ff:00:00:01", POD_A.mac, 0x86dd, F.ipv6(a6, sn, 58, F.icmp6(a6, sn, 135, 0, F.nsBody(NODE.gateway6!, POD_A.mac)), 255)) },
    { port: POD_A.port, bytes: F.eth(R, POD_A.mac, 0x86dd, F.ipv6(a6, "fd00:10:244:3::9", 17, F.udp(a6, "fd00:10:244:3::9", 1, 2, new Uint8Array(100)))) },
    { port: POD_A.port, bytes: F.eth(R, POD_A.mac, 0x86dd, F.ipv6(a6, "fd00:10:244:2::9", 44, F.concat(Uint8Array.of(17, 0, 0, 1, 0, 0, 0, 7), F.udp(a6, "fd00:10:244:2::9", 1, 2, new Uint8Array(16))))) },
    { port: PORT_HOST, bytes: F.ipv4(NODE.gateway4!, a4, 1, F.icmpEcho()) },
    { port: PORT_HOST, bytes: F.ipv6(NODE.gateway6!, "fd00:10:244:2::1", 58, F.icmp6(NODE.gateway6!, "fd00:10:244:2::1", 128, 0, new Uint8Array(12))) },
    { port: PORT_UNDERLAY, bytes: F.ipv4(PEER4.underlay, NODE.underlay4!, 17, F.udp(PEER4.underlay, NODE.underlay4!, 40000, 8472, F.vxlan(1, inner4))) },
    { port: PORT_UNDERLAY, bytes: F.ipv4(PEER4.underlay, NODE.underlay4!, 17, F.udp(PEER4.underlay, NODE.underlay4!, 40000, 8472, F.vxlan(1, inner4), true)) },
    { port: PORT_UNDERLAY, bytes: F.ipv6(PEER6.underlay, NODE.underlay6!, 17, F.udp(PEER6.underlay, NODE.underlay6!, 40000, 8472, F.vxlan(1, inner6))) },
  ];
}

describe("fuzz: random and mutated frames", () => {
  it(`never traps, one verdict per packet, counters add up (${PER_PORT} frames per port)`, () => {
    const dp = makeNode({ podMtu: 1450 }, { genSlots: 64 });
    const memBefore = dp.memoryBytes;
    const r = prng(0xfeed);
    const corpus = seeds();
    const ports = [POD_A.port, 3, PORT_HOST, PORT_UNDERLAY, 40 /* unattached pod port */, 9999 /* no such port */];
    const memEnd = dp.memoryBytes;
    const dropTotal = () => Object.values(dp.counters().drops).reduce((a, b) => a + b, 0n);
    let drops0 = dropTotal();
    let total = 0;
    let dropsSinceCheck = 0n;
    const seen = new Set<string>();
    for (const port of ports) {
      const portSeeds = corpus.filter((s) => s.port === port || port >= 3);
      for (let done = 0; done < PER_PORT; done += BATCH_MAX) {
        const n = Math.min(BATCH_MAX, PER_PORT - done);
        for (let i = 0; i < n; i++) {
          const off = dp.dataStart(i);
          const mode = r();
          let len: number;
          if (mode < 0.2) {
            // random bytes, random length
            len = randInt(r, 200);
            for (let k = 0; k < len; k++) dp.u8[off + k] = randInt(r, 256);
          } else {
            const s = portSeeds.length ? portSeeds[randInt(r, portSeeds.length)]! : corpus[0]!;
            dp.u8.set(s.bytes, off);
            len = s.bytes.length;
            const flips = 1 + randInt(r, 4);
            for (let f = 0; f < flips; f++) dp.u8[off + randInt(r, Math.min(len, 120))] = randInt(r, 256);
            if (r() < 0.2) len = randInt(r, len + 1);
            if (r() < 0.05) len += randInt(r, 64); // claims bytes past the frame
          }
          let descOff = off;
          if (r() < 0.01) descOff = off - 1 - randInt(r, 300); // a bad descriptor now and then
          dp.setRx(i, descOff, len, port, 0);
        }
        const txn = dp.process(n, done);
        let deliver = 0, forward = 0, drop = 0, txSum = 0;
        const fail = (what: string) => { throw new Error(`port ${port}, batch at ${done}: ${what}`); };
        for (let i = 0; i < n; i++) {
          const v = dp.verdictOf(i);
          const reason = dp.reasonOf(i);
          if (v === 0) {
            drop++;
            if (reason === 0 || reason >= DROP_REASONS.length) fail(`drop without a valid reason (${reason})`);
            seen.add(DROP_REASONS[reason]!);
          } else if (v === 1 || v === 2) {
            if (v === 1) deliver++; else forward++;
            if (reason !== 0) fail(`verdict ${v} with reason ${reason}`);
          } else fail(`bad verdict ${v}`);
          txSum += dp.dv.getUint16(dp.results + 8 * i + 6, true);
        }
        if (deliver + forward + drop !== n) fail("verdicts do not add up");
        if (txSum !== txn) fail(`tx entries ${txn} vs per-input counts ${txSum}`);
        for (let k = 0; k < txn; k++) {
          const off = dp.txRawOffsets[k]!, len = dp.txRawLengths[k]!, input = dp.txRawInputs[k]!;
          if (off < dp.slots || off + len > memEnd || input >= n) fail(`tx entry ${k} out of bounds`);
        }
        // The TX list grouped by port: every entry once, per-port order kept.
        const runs = dp.txRunCount();
        let covered = 0;
        for (let r = 0; r < runs; r++) {
          const port = dp.txRunPort(r), start = dp.txRunStart(r), count = dp.txRunLength(r);
          if (start !== covered) fail(`run ${r} starts at ${start}, expected ${covered}`);
          let j = start;
          for (let k = 0; k < txn; k++) {
            if (dp.txRawPorts[k] !== port) continue;
            if (dp.txOffsets[j] !== dp.txRawOffsets[k] || dp.txLengths[j] !== dp.txRawLengths[k]) fail(`run ${r} entry ${j} differs from the TX list`);
            j++;
          }
          if (j !== start + count) fail(`run ${r} of port ${port} has ${count} entries, TX list ${j - start}`);
          covered += count;
        }
        if (covered !== txn) fail(`runs cover ${covered} of ${txn} entries`);
        if (done % (BATCH_MAX * 64) === 0) {
          const d1 = dropTotal();
          expect(d1 - drops0).toBe(BigInt(drop) + dropsSinceCheck);
          drops0 = d1;
          dropsSinceCheck = 0n;
        } else dropsSinceCheck += BigInt(drop);
        total += n;
      }
    }
    expect(total).toBe(PER_PORT * ports.length);
    expect(dp.memoryBytes).toBe(memBefore);
    expect(dp.counters().events.packets).toBe(BigInt(total));
    // the mutations reach deep into the pipeline, not just the first check
    for (const reason of ["BadDescriptor", "UnknownPort", "SpoofedMac", "Ipv4BadChecksum", "UnknownPeer", "VniMismatch", "NoRoute"]) {
      expect(seen.has(reason), reason).toBe(true);
    }
  });
});
