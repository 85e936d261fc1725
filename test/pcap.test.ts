import { describe, expect, it } from "vitest";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  LinkType,
  MemoryPcapSink,
  PcapFormatError,
  PcapReader,
  PcapWriter,
  SllPacketType,
  createPcapFileWriter,
  encodePcap,
  ipPacketOf,
  parsePcap,
  readPcapFile,
  recordIpPacket,
  splitLinkLayer,
  streamPcapFile,
} from "../host/pcap/index.ts";
import { describeRequiring } from "./helpers/require.ts";

const KERNEL_DIR = new URL("./vectors/kernel/", import.meta.url).pathname;

/** A pcap built field by field, in either byte order and resolution, independent of the writer. */
function handBuilt(opts: { le: boolean; nano: boolean; linkType: number; records: { sec: number; frac: number; data: number[]; orig?: number }[] }): Uint8Array {
  const parts: number[] = [];
  const u32 = (v: number) => {
    const b = [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
    parts.push(...(opts.le ? b.reverse() : b));
  };
  const u16 = (v: number) => {
    const b = [(v >>> 8) & 0xff, v & 0xff];
    parts.push(...(opts.le ? b.reverse() : b));
  };
  u32(opts.nano ? 0xa1b23c4d : 0xa1b2c3d4);
  u16(2);
  u16(4);
  u32(0);
  u32(0);
  u32(65535);
  u32(opts.linkType);
  for (const r of opts.records) {
    u32(r.sec);
    u32(r.frac);
    u32(r.data.length);
    u32(r.orig ?? r.data.length);
    parts.push(...r.data);
  }
  return Uint8Array.from(parts);
}

const IPV4_MIN = [0x45, 0, 0, 20, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];

describe("pcap reader: hand-built files", () => {
  for (const le of [true, false]) {
    for (const nano of [false, true]) {
      it(`${le ? "little" : "big"}-endian, ${nano ? "nanosecond" : "microsecond"} magic`, () => {
        const bytes = handBuilt({
          le,
          nano,
          linkType: LinkType.Raw,
          records: [
            { sec: 1700000000, frac: 123456, data: IPV4_MIN },
            { sec: 1700000001, frac: 999, data: [0x60, 1, 2], orig: 1500 },
          ],
        });
        const { header, records } = parsePcap(bytes);
        expect(header.littleEndian).toBe(le);
        expect(header.nanosecond).toBe(nano);
        expect(header.snaplen).toBe(65535);
        expect(header.linkType).toBe(101);
        expect(records).toHaveLength(2);
        expect(records[0]!.ts).toEqual({ sec: 1700000000, nsec: nano ? 123456 : 123456000 });
        expect(records[1]!.ts).toEqual({ sec: 1700000001, nsec: nano ? 999 : 999000 });
        expect([...records[0]!.data]).toEqual(IPV4_MIN);
        expect(records[1]!.origLen).toBe(1500);
        expect(records[1]!.data.length).toBe(3);
        expect(records.every((r) => r.linkType === 101)).toBe(true);
      });
    }
  }

  it("an empty capture (header only) has no records", () => {
    expect(parsePcap(handBuilt({ le: true, nano: false, linkType: 1, records: [] })).records).toEqual([]);
  });

  it("reads the FCS length from the link-type field's upper bits", () => {
    const b = handBuilt({ le: true, nano: false, linkType: 1 | (1 << 26) | (2 << 28), records: [] });
    const h = new PcapReader(b).header;
    expect(h.linkType).toBe(1);
    expect(h.fcsLen).toBe(4);
  });
});

describe("pcap reader: malformed input gives PcapFormatError with the offset", () => {
  const good = handBuilt({ le: true, nano: false, linkType: 1, records: [{ sec: 1, frac: 2, data: [1, 2, 3, 4, 5, 6, 7, 8] }] });

  const cases: [string, Uint8Array, number, RegExp][] = [
    ["empty file", new Uint8Array(0), 0, /too short/],
    ["unknown magic", Uint8Array.from([1, 2, 3, 4, ...new Array(20).fill(0)]), 0, /unknown magic number 0x01020304/],
    ["pcapng", Uint8Array.from([0x0a, 0x0d, 0x0d, 0x0a, ...new Array(28).fill(0)]), 0, /pcapng/],
    ["truncated global header", good.subarray(0, 10), 10, /truncated global header/],
    ["truncated record header", good.subarray(0, 24 + 7), 24, /truncated record header/],
    ["truncated record data", good.subarray(0, good.length - 1), 40, /truncated record data \(7 of 8 bytes\)/],
  ];
  for (const [name, bytes, offset, msg] of cases) {
    it(name, () => {
      let err: unknown;
      try {
        parsePcap(bytes);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PcapFormatError);
      expect((err as PcapFormatError).offset).toBe(offset);
      expect((err as Error).message).toMatch(msg);
      expect((err as Error).message).toContain(`offset ${offset}`);
    });
  }

  it("a record length beyond any snaplen", () => {
    const b = good.slice();
    new DataView(b.buffer).setUint32(24 + 8, 0x7fffffff, true);
    expect(() => parsePcap(b)).toThrow(/record length 2147483647 exceeds.*offset 32/);
  });

  it("bad version", () => {
    const b = good.slice();
    b[4] = 9;
    expect(() => parsePcap(b)).toThrow(/unsupported version 9\.4 at byte offset 4/);
  });

  it("never throws anything else on random or mutated bytes", () => {
    let seed = 12345;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) & 0xff;
    const kernel = new Uint8Array(readFileSync(join(KERNEL_DIR, "vxlan4-default-underlay.pcap")));
    for (let i = 0; i < 3000; i++) {
      let b: Uint8Array;
      if (i % 3 === 0) {
        b = Uint8Array.from({ length: rnd() * 2 }, rnd);
        if (i % 2 === 0 && b.length >= 4) b.set([0xd4, 0xc3, 0xb2, 0xa1]);
      } else {
        b = kernel.slice(0, 24 + ((rnd() << 8) | rnd()) % kernel.length);
        for (let k = 0; k < 4; k++) b[24 + ((rnd() << 8) | rnd()) % Math.max(1, b.length - 24)] = rnd();
      }
      try {
        for (const r of new PcapReader(b)) {
          expect(r.data.length).toBeLessThanOrEqual(b.length);
          ipPacketOf(r.linkType, r.data);
        }
      } catch (e) {
        expect(e).toBeInstanceOf(PcapFormatError);
      }
    }
  });
});

describe("pcap writer", () => {
  it("writes microsecond little-endian, and reads back", async () => {
    const sink = new MemoryPcapSink();
    const w = new PcapWriter(sink, { linkType: LinkType.Ethernet });
    const buf = new Uint8Array([1, 2, 3]);
    w.write({ ts: { sec: 10, nsec: 123456789 }, data: buf });
    buf[0] = 99; // the writer copied the data
    w.write({ ts: { sec: 11, nsec: 0 }, data: new Uint8Array(70), origLen: 1514 });
    await w.close();
    expect(() => w.write({ data: buf })).toThrow(/after close/);
    const bytes = sink.bytes();
    expect([...bytes.subarray(0, 4)]).toEqual([0xd4, 0xc3, 0xb2, 0xa1]);
    const { header, records } = parsePcap(bytes);
    expect(header).toMatchObject({ littleEndian: true, nanosecond: false, versionMajor: 2, versionMinor: 4, snaplen: 262144, linkType: 1 });
    expect(records.map((r) => r.ts)).toEqual([
      { sec: 10, nsec: 123456000 },
      { sec: 11, nsec: 0 },
    ]);
    expect([...records[0]!.data]).toEqual([1, 2, 3]);
    expect(records[1]!.origLen).toBe(1514);
  });

  it("cuts records to snaplen and keeps origLen", () => {
    const bytes = encodePcap(LinkType.Raw, [{ data: new Uint8Array(100).fill(7) }], 64);
    const { records } = parsePcap(bytes);
    expect(records[0]!.data.length).toBe(64);
    expect(records[0]!.origLen).toBe(100);
  });

  it("streams to a file that tcpdump reads", async () => {
    const dir = mkdtempSync(join(tmpdir(), "weft-pcap-"));
    try {
      const path = join(dir, "out.pcap");
      const w = await createPcapFileWriter(path, { linkType: LinkType.Raw });
      const src = parsePcap(new Uint8Array(readFileSync(join(KERNEL_DIR, "vxlan4-default-underlay.pcap"))));
      let n = 0;
      for (const r of src.records) {
        const ip = recordIpPacket(r);
        if (ip) {
          w.write({ ts: r.ts, data: ip.bytes });
          n++;
        }
      }
      await w.close();
      const back = await readPcapFile(path);
      expect(back.records).toHaveLength(n);
      expect(back.header.linkType).toBe(101);
      if (spawnSync("tcpdump", ["--version"]).status === 0) {
        const out = execFileSync("tcpdump", ["-nr", path], { stdio: ["ignore", "pipe", "ignore"] }).toString();
        expect(out.match(/^\d\d:\d\d:\d\d\.\d+ /gm)).toHaveLength(n);
        expect(out).toContain("10.99.0.2.8472");
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("streaming reader", () => {
  it("yields the same records as the whole-file reader", async () => {
    for (const f of ["vxlan4-default-underlay.pcap", "underlay-nano.pcap", "any-sll2.pcap"]) {
      const whole = parsePcap(new Uint8Array(readFileSync(join(KERNEL_DIR, f)))).records;
      const streamed = [];
      for await (const r of streamPcapFile(join(KERNEL_DIR, f))) streamed.push(r);
      expect(streamed.map((r) => [r.ts, r.linkType, r.origLen, Buffer.from(r.data).toString("hex")])).toEqual(
        whole.map((r) => [r.ts, r.linkType, r.origLen, Buffer.from(r.data).toString("hex")]),
      );
    }
  });

  it("names the offset and the file of a truncation", async () => {
    const dir = mkdtempSync(join(tmpdir(), "weft-pcap-stream-"));
    try {
      const good = readFileSync(join(KERNEL_DIR, "vxlan4-default-underlay.pcap"));
      const path = join(dir, "cut.pcap");
      writeFileSync(path, good.subarray(0, good.length - 3));
      const seen: number[] = [];
      await expect(async () => {
        for await (const r of streamPcapFile(path)) seen.push(r.data.length);
      }).rejects.toThrow(/truncated record data \(\d+ of \d+ bytes\) \(in .*cut\.pcap\) at byte offset \d+/);
      expect(seen.length).toBeGreaterThan(3);
      writeFileSync(path, good.subarray(0, 30));
      await expect(async () => {
        for await (const _ of streamPcapFile(path)) void _;
      }).rejects.toThrow(/truncated record header \(6 of 16 bytes\).* at byte offset 24$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("link layers", () => {
  it("Ethernet, with and without 802.1Q tags", () => {
    const eth = Uint8Array.from([...new Array(12).fill(0), 0x08, 0x00, ...IPV4_MIN]);
    expect(ipPacketOf(LinkType.Ethernet, eth)).toEqual({ version: 4, bytes: Uint8Array.from(IPV4_MIN) });
    const tagged = Uint8Array.from([...new Array(12).fill(0), 0x81, 0x00, 0x00, 0x05, 0x86, 0xdd, 0x60, 0, 0, 0]);
    expect(splitLinkLayer(LinkType.Ethernet, tagged)!.ethertype).toBe(0x86dd);
    expect(ipPacketOf(LinkType.Ethernet, tagged)!.version).toBe(6);
    const arp = Uint8Array.from([...new Array(12).fill(0xff), 0x08, 0x06, 0, 1]);
    expect(ipPacketOf(LinkType.Ethernet, arp)).toBeUndefined();
    expect(splitLinkLayer(LinkType.Ethernet, arp)!.ethertype).toBe(0x0806);
  });

  it("short frames and unknown link types yield undefined, never throw", () => {
    for (const lt of [1, 101, 113, 228, 229, 276, 147]) {
      for (let n = 0; n < 22; n++) expect(() => ipPacketOf(lt, new Uint8Array(n))).not.toThrow();
    }
    expect(ipPacketOf(147, Uint8Array.from(IPV4_MIN))).toBeUndefined();
    expect(ipPacketOf(LinkType.Ipv6, Uint8Array.from(IPV4_MIN))).toBeUndefined(); // version disagrees
  });

  it("raw, IPv4 and IPv6 link types", () => {
    expect(ipPacketOf(LinkType.Raw, Uint8Array.from(IPV4_MIN))!.version).toBe(4);
    expect(ipPacketOf(LinkType.Ipv4, Uint8Array.from(IPV4_MIN))!.version).toBe(4);
    expect(ipPacketOf(LinkType.Raw, Uint8Array.from([0x60, 0]))!.version).toBe(6);
    expect(ipPacketOf(LinkType.Ipv6, Uint8Array.from([0x60, 0]))!.version).toBe(6);
    expect(ipPacketOf(LinkType.Raw, Uint8Array.from([0x50, 0]))).toBeUndefined();
  });
});

describe("tcpdump-produced files (committed kernel captures)", () => {
  const files = readdirSync(KERNEL_DIR).filter((f) => f.endsWith(".pcap"));

  it("all committed captures parse", () => {
    expect(files.length).toBeGreaterThanOrEqual(13);
    for (const f of files) {
      const { records } = parsePcap(new Uint8Array(readFileSync(join(KERNEL_DIR, f))));
      expect(records.length, f).toBeGreaterThan(5);
      for (const r of records) expect(r.origLen).toBe(r.data.length);
    }
  });

  it("-i any as SLL and SLL2 and -i ul with nanoseconds carry the same IP packets", () => {
    const read = (f: string) => parsePcap(new Uint8Array(readFileSync(join(KERNEL_DIR, f))));
    const sll = read("any-sll.pcap");
    const sll2 = read("any-sll2.pcap");
    const nano = read("underlay-nano.pcap");
    const eth = read("vxlan4-default-underlay.pcap");
    expect(sll.header.linkType).toBe(113);
    expect(sll2.header.linkType).toBe(276);
    expect(nano.header.nanosecond).toBe(true);
    expect(nano.records.some((r) => r.ts.nsec % 1000 !== 0)).toBe(true);
    const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
    const ips = (f: ReturnType<typeof read>) => f.records.map(recordIpPacket).filter((p) => p !== undefined).map((p) => hex(p!.bytes));
    // Both cooked captures saw the same packets in the same order.
    expect(ips(sll)).toEqual(ips(sll2));
    // The VXLAN packets of the `any` capture are byte-identical to those of the `ul` capture
    // (separate sockets: either may have missed a packet or some early MLD/ND chatter).
    const isVxlan = (h: string) => h.startsWith("45") && h.slice(18, 20) === "11" && h.slice(44, 48) === "2118";
    const ulSet = new Set(ips(nano).filter(isVxlan));
    const anyVxlan = ips(sll2).filter(isVxlan);
    expect(anyVxlan.length).toBeGreaterThan(10);
    expect(anyVxlan.length).toBeGreaterThan(ulSet.size * 0.8);
    for (const p of anyVxlan) expect(ulSet.has(p)).toBe(true);
    // The nanosecond and microsecond captures of `ul` ran side by side.
    expect(ips(nano)).toEqual(ips(eth));
    // SLL2 records carry an ifindex and a packet type; outgoing and incoming both occur.
    const types = new Set(sll2.records.map((r) => splitLinkLayer(r.linkType, r.data)!.sllPacketType));
    expect(types.has(SllPacketType.Outgoing)).toBe(true);
    expect(types.has(SllPacketType.Host)).toBe(true);
    expect(sll2.records.every((r) => splitLinkLayer(r.linkType, r.data)!.ifindex! > 0)).toBe(true);
  });
});

const canNetns =
  process.getuid?.() === 0 &&
  spawnSync("tcpdump", ["--version"]).status === 0 &&
  spawnSync("ip", ["netns", "list"]).status === 0;

describeRequiring(!canNetns)("tcpdump -w in a namespace we create", () => {
  it("reads Ethernet, SLL2 and nanosecond captures of a known UDP datagram", async () => {
    const ns = `wpcap${process.pid % 100000}`;
    const dir = mkdtempSync(join(tmpdir(), "weft-pcap-live-"));
    const run = (...args: string[]) => execFileSync("ip", ["netns", "exec", ns, ...args], { stdio: "ignore" });
    execFileSync("ip", ["netns", "add", ns]);
    const procs: ReturnType<typeof spawn>[] = [];
    try {
      run("ip", "link", "set", "lo", "up");
      const variants: [string, string[]][] = [
        ["lo.pcap", ["-i", "lo"]],
        ["any.pcap", ["-i", "any"]],
        ["nano.pcap", ["-i", "lo", "--time-stamp-precision=nano"]],
      ];
      const ready: Promise<unknown>[] = [];
      for (const [file, args] of variants) {
        const p = spawn("ip", ["netns", "exec", ns, "tcpdump", "-Z", "root", "-U", "--immediate-mode", "-n", ...args, "-w", join(dir, file), "udp port 9999"], {
          stdio: ["ignore", "ignore", "pipe"],
        });
        procs.push(p);
        // tcpdump says "listening on ..." on stderr once its socket is bound.
        ready.push(new Promise((resolve) => {
          let err = "";
          p.stderr!.on("data", (d: Buffer) => {
            err += d.toString();
            if (err.includes("listening on")) resolve(undefined);
          });
          p.on("exit", resolve);
        }));
      }
      await Promise.race([Promise.all(ready), new Promise((r) => setTimeout(r, 5000))]);
      await new Promise((r) => setTimeout(r, 200));
      run("bash", "-c", "echo weft-pcap > /dev/udp/127.0.0.1/9999");
      await new Promise((r) => setTimeout(r, 500));
      await Promise.all(procs.map((p) => new Promise((r) => { p.on("exit", r); p.kill("SIGINT"); })));
      for (const [file] of variants) {
        const { header, records } = await readPcapFile(join(dir, file));
        expect(records.length, file).toBeGreaterThanOrEqual(1);
        const ip = recordIpPacket(records[0]!)!;
        expect(ip.version).toBe(4);
        // IPv4 (20) + UDP (8) + "weft-pcap\n"
        expect(Buffer.from(ip.bytes.subarray(28)).toString()).toBe("weft-pcap\n");
        expect((ip.bytes[22]! << 8) | ip.bytes[23]!).toBe(9999);
        if (file === "any.pcap") expect(header.linkType).toBe(LinkType.LinuxSll2);
        if (file === "lo.pcap") expect(header.linkType).toBe(LinkType.Ethernet);
        if (file === "nano.pcap") expect(header.nanosecond).toBe(true);
      }
    } finally {
      for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
      spawnSync("ip", ["netns", "del", ns]);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 20000);
});
