// The host I/O compliance suites against the in-memory fakes, plus fake-only behaviour.
import { describe, expect, it } from "vitest";
import { createFakeTunPair } from "../host/io/fake/tun.ts";
import { FakeUnderlayNetwork } from "../host/io/fake/underlay.ts";
import { makeMemory, readUntil, tunDeviceCompliance, underlayCompliance, writeTunTestPacket } from "../host/io/testing/compliance.ts";
import { parseUdp, writeUdp } from "../host/io/testing/packets.ts";

for (const kind of ["tap", "tun"] as const) {
  tunDeviceCompliance("fake", kind, () => {
    const { device, peer } = createFakeTunPair({ kind, name: `fake${kind}` });
    return { device, peer, close: () => { device.close(); peer.close(); } };
  });
}

underlayCompliance("fake", () => {
  const net = new FakeUnderlayNetwork();
  const a = net.attach({ ipv4: "198.18.0.1", ipv6: "fd00:7774::1" });
  const b = net.attach({ ipv4: "198.18.0.2", ipv6: "fd00:7774::2" });
  return { a, b, a4: "198.18.0.1", b4: "198.18.0.2", a6: "fd00:7774::1", b6: "fd00:7774::2", close: () => { a.close(); b.close(); } };
});

describe("fake TUN pair backpressure", () => {
  it("blocks when the other side is full (whenFull: block) and fires onWritable after it reads", async () => {
    const { device, peer } = createFakeTunPair({ kind: "tap", queuePackets: 16, whenFull: "block" });
    const { mem, rx, tx } = makeMemory();
    for (let i = 0; i < 40; i++) tx.lengths[i] = writeTunTestPacket("tap", mem, tx.offsets[i]!, i);
    expect(device.writeBatch(mem, tx, 0, 40)).toBe(16);
    expect(device.stats.wouldBlock).toBe(1);
    const writable = new Promise<void>((r) => device.onWritable(r));
    expect(await readUntil(peer, mem, rx, 16)).toBe(16);
    await writable;
    expect(device.writeBatch(mem, tx, 16, 24)).toBe(16);
  });

  it("drops like Linux when the other side is full (default)", () => {
    const { device } = createFakeTunPair({ kind: "tap", queuePackets: 16 });
    const { mem, tx } = makeMemory();
    for (let i = 0; i < 40; i++) tx.lengths[i] = writeTunTestPacket("tap", mem, tx.offsets[i]!, i);
    expect(device.writeBatch(mem, tx, 0, 40)).toBe(40);
    expect(device.lost).toBe(24);
  });

  it("rejects a runt TAP frame and a non-IP TUN packet per packet", () => {
    const tap = createFakeTunPair({ kind: "tap" });
    const tun = createFakeTunPair({ kind: "tun" });
    const { mem, tx } = makeMemory();
    tx.lengths[0] = 10;
    mem[tx.offsets[0]!] = 0x00;
    expect(tap.device.writeBatch(mem, tx, 0, 1)).toBe(1);
    expect(tap.device.stats.errors).toBe(1);
    expect(tun.device.writeBatch(mem, tx, 0, 1)).toBe(1);
    expect(tun.device.stats.errors).toBe(1);
  });
});

describe("fake port conveniences for router tests", () => {
  it("send() and receiveAll() move whole packets, with the underlay's receive normalization", () => {
    const { device, peer } = createFakeTunPair({ kind: "tap" });
    const frame = new Uint8Array(60).fill(7);
    expect(peer.send(frame, frame)).toBe(2);
    expect(device.receiveAll()).toEqual([frame, frame]);
    expect(device.receiveAll()).toEqual([]);

    const net = new FakeUnderlayNetwork();
    const a = net.attach({ ipv4: "198.18.0.1" });
    const b = net.attach({ ipv4: "198.18.0.2" });
    const { mem, tx } = makeMemory();
    const len = writeUdp(mem, tx.offsets[0]!, { src: "198.18.0.1", dst: "198.18.0.2", sport: 1, dport: 8472, id: 77, udpChecksum: true, payload: new Uint8Array(8) });
    expect(a.send(mem.slice(tx.offsets[0]!, tx.offsets[0]! + len))).toBe(1);
    const [got] = b.receiveAll();
    const p = parseUdp(got!, 0, got!.length);
    expect([p.sport, p.dport, p.udpChecksum, p.ipChecksumOk]).toEqual([1, 8472, 0, true]);
    expect((got![4]! << 8) | got![5]!).toBe(0);  // IPv4 ID not preserved, as on Linux
  });
});

describe("fake underlay network", () => {
  it("counts packets to unknown addresses as unroutable", () => {
    const net = new FakeUnderlayNetwork();
    const a = net.attach({ ipv4: "198.18.0.1" });
    const { mem, tx } = makeMemory();
    mem.set([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 9, 0, 1, 0x21, 0x18, 0, 8, 0, 0], tx.offsets[0]!);
    tx.lengths[0] = 28;
    expect(a.sendBatch(mem, tx, 0, 1)).toBe(1);
    expect(net.unroutable).toBe(1);
  });

  it("drops at a full receive queue and counts it as kernelDrops of the receiver", () => {
    const net = new FakeUnderlayNetwork();
    const a = net.attach({ ipv4: "198.18.0.1" });
    const b = net.attach({ ipv4: "198.18.0.2", queuePackets: 4 });
    const { mem, tx } = makeMemory();
    for (let i = 0; i < 10; i++)
      tx.lengths[i] = writeUdp(mem, tx.offsets[i]!, { src: "198.18.0.1", dst: "198.18.0.2", sport: 1, dport: 8472, payload: new Uint8Array(8) });
    expect(a.sendBatch(mem, tx, 0, 10)).toBe(10);
    expect(b.stats.kernelDrops).toBe(6);
    expect(net.overflow).toBe(6);
  });
});
