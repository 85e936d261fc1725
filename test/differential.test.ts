// Differential tests of the Wasm pipeline against the slow TypeScript reference model
// (test/reference/model.ts): the same input through both, one packet per batch, and every verdict,
// drop reason and output packet must agree (after blanking what is implementation-defined, see
// test/reference/differential.ts). Inputs:
//   1. every record of every kernel capture (test/vectors/kernel), on the pod, host and underlay
//      ports of a node configured as the capture's node A;
//   2. every scapy vector (test/vectors/scapy.json) on every port kind its link type fits, as node
//      A (pod side) and node B (the receiver of the underlay vectors), VXLAN and Geneve;
//   3. seeded random inputs: valid seeds of every kind a port sees, mutated (byte flips in
//      headers, truncation, length fields, trailing bytes), checksums repaired or not, on four node
//      configurations (VXLAN/Geneve, IPv4/IPv6/dual underlays, small and large MTUs).
// WEFT_DIFF_PER_PORT scales part 3 (random inputs per port kind, over all configurations; default
// 100000). Everything is deterministic: a failure names the configuration, seed kind and mutation.
// Where the Wasm departs from an RFC the model keeps the RFC: such a case gets a failing test with
// a minimal input ("known deviations", at the end) and the random tests set exactly it aside.
// Cases once found that way and since fixed stay as regression tests.
import { describe, expect, it } from "vitest";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parsePcap, ipPacketOf } from "../host/pcap/index.ts";
import { parseNodeConfig, type NodeConfig } from "../host/config/node-config.ts";
import { NodeTables } from "../host/tables/node-tables.ts";
import { Dataplane, type DataplaneRuntime } from "../host/wasm/dataplane.ts";
import { PORT_HOST, PORT_UNDERLAY } from "../host/wasm/abi.ts";
import { compareWithModel, describeMismatch, type DiffInput, type Mismatch } from "./reference/differential.ts";
import { build, bytesToHex, formatIp6, hexToBytes, parseIp6, parseIpv6, type Ipv6ExtHeader, type Layer, type NdpOption } from "./reference/packet.ts";
import { internetChecksum, onesComplementSum, pseudoHeaderSum4, pseudoHeaderSum6 } from "./reference/checksum.ts";
import { linkLocalOf } from "./reference/model.ts";
import { KERNEL_DIR, loadScapyVectors } from "./vectors/load.ts";
import { prng } from "./helpers/prng.ts";

const PER_PORT = Number(process.env.WEFT_DIFF_PER_PORT ?? 100_000);
/** ICMP errors are rate-limited in the Wasm, not in the model: a bucket no test can empty. */
const ICMP_UNLIMITED = { ratePerSec: 1_000_000, burst: 1_000_000 };

function tablesFor(config: NodeConfig, runtime: DataplaneRuntime = "v8"): NodeTables {
  // 4 KiB slots: room for 2000-byte datagrams plus encapsulation.
  return new NodeTables(Dataplane.create({ slotSizeLog2: 12, maxPods: 16, maxPeers: 8, maxRoutes4: 64, maxRoutes6: 64 }, undefined, runtime), config);
}

/** A readable failure: mismatches grouped by (port, wasm verdict, model verdict), then the first lines. */
function report(what: string, total: number, mismatches: Mismatch[]): string {
  const groups = new Map<string, { n: number; example: Mismatch }>();
  for (const m of mismatches) {
    const key = `port ${m.input.port === PORT_HOST ? "host" : m.input.port === PORT_UNDERLAY ? "underlay" : "pod"}: wasm ${m.wasm.verdict}/${m.wasm.reason} vs model ${m.model.verdict}/${m.model.reason} (${m.kind})`;
    const g = groups.get(key);
    if (g) g.n++;
    else groups.set(key, { n: 1, example: m });
  }
  const lines = [`${what}: ${mismatches.length} of ${total} inputs differ`];
  for (const [key, g] of [...groups].sort((a, b) => b[1].n - a[1].n)) {
    lines.push(`  ${g.n} × ${key}`);
    lines.push(`    e.g. ${describeMismatch(g.example)}`);
    const h = bytesToHex(g.example.input.bytes);
    lines.push(`    input (${g.example.input.bytes.length} bytes) ${h.length > 400 ? `${h.slice(0, 400)}…` : h}`);
  }
  lines.push("first mismatches:");
  for (const m of mismatches.slice(0, 20)) lines.push(`  ${describeMismatch(m)}`);
  return lines.join("\n");
}

function expectAgreement(what: string, tables: NodeTables, inputs: DiffInput[], minTotal = 1): void {
  const r = compareWithModel(tables, inputs);
  expect(r.skipped, `${what}: inputs larger than a slot`).toBe(0);
  expect(r.total).toBeGreaterThanOrEqual(minTotal);
  if (r.mismatches.length) expect.fail(report(what, r.total, r.mismatches));
}

// ---- 1. the kernel captures ----------------------------------------------------------------------

const POD_A_MAC = "02:00:00:01:00:11";
const GW_A_MAC = "02:00:00:01:00:01";

/**
 * Node A of test/vectors/kernel/PROVENANCE.md: pod A on port 2, gateway addresses on the pod veth,
 * VNI 1 on port 8472, underlay MTU 1500 (tunnel MTUs 1450 / 1430), pod MTU 1500 (the pod's eth0),
 * one peer (node B). The kernel's vx4 and vx6 devices have different MACs: `family` picks the pair.
 */
function kernelNodeA(family: 4 | 6, over: Record<string, unknown> = {}): NodeConfig {
  return parseNodeConfig({
    name: "a", encapsulation: "vxlan", port: 8472, vni: 1,
    vtepMac: family === 4 ? "02:aa:00:00:01:04" : "02:aa:00:00:01:06", routerMac: GW_A_MAC,
    underlay: { ipv4: "10.99.0.1", ipv6: "fd00:99::1", mtu: 1500 },
    podCIDRs: ["10.244.1.0/24", "fd00:244:1::/64"], podMtu: 1500, icmp: ICMP_UNLIMITED,
    peers: [{
      name: "b", underlay: family === 4 ? "10.99.0.2" : "fd00:99::2",
      vtepMac: family === 4 ? "02:bb:00:00:02:04" : "02:bb:00:00:02:06", podCIDRs: ["10.244.2.0/24", "fd00:244:2::/64"],
    }],
    pods: [{ name: "a", mac: POD_A_MAC, ipv4: "10.244.1.11", ipv6: "fd00:244:1::11", port: 2 }],
    ...over,
  });
}

/** Node B of the same captures: the receiver of the scapy underlay vectors (built as A → B). */
function kernelNodeB(family: 4 | 6, over: Record<string, unknown> = {}): NodeConfig {
  return parseNodeConfig({
    name: "b", encapsulation: "vxlan", port: 8472, vni: 1,
    vtepMac: family === 4 ? "02:bb:00:00:02:04" : "02:bb:00:00:02:06", routerMac: "02:00:00:02:00:01",
    underlay: { ipv4: "10.99.0.2", ipv6: "fd00:99::2", mtu: 1500 },
    podCIDRs: ["10.244.2.0/24", "fd00:244:2::/64"], podMtu: 1500, icmp: ICMP_UNLIMITED,
    peers: [{
      name: "a", underlay: family === 4 ? "10.99.0.1" : "fd00:99::1",
      vtepMac: family === 4 ? "02:aa:00:00:01:04" : "02:aa:00:00:01:06", podCIDRs: ["10.244.1.0/24", "fd00:244:1::/64"],
    }],
    pods: [{ name: "b", mac: "02:00:00:02:00:11", ipv4: "10.244.2.11", ipv6: "fd00:244:2::11", port: 2 }],
    ...over,
  });
}

/** The capture variants (capture_kernel_vxlan.sh) and the node settings that reproduce each. */
const KERNEL_VARIANTS: { file: string; family: 4 | 6; udpChecksum4: boolean }[] = [
  { file: "vxlan4-default", family: 4, udpChecksum4: true }, // kernel 6.18 sends a checksum by default
  { file: "vxlan4-udpcsum", family: 4, udpChecksum4: true },
  { file: "vxlan4-noudpcsum", family: 4, udpChecksum4: false },
  { file: "vxlan6-default", family: 6, udpChecksum4: false },
  { file: "vxlan6-zerocsum", family: 6, udpChecksum4: false },
];

/**
 * Every record of a capture as input: Ethernet frames on the pod port when captured on the pod
 * veth, and every IP packet (link layer stripped) on the underlay and host ports.
 */
function captureInputs(file: string): DiffInput[] {
  const { header, records } = parsePcap(new Uint8Array(readFileSync(join(KERNEL_DIR, file))));
  const inputs: DiffInput[] = [];
  records.forEach((r, i) => {
    const label = `${file}#${i}`;
    if (file.endsWith("-pod.pcap")) inputs.push({ port: 2, bytes: r.data, label });
    const ip = ipPacketOf(header.linkType, r.data);
    if (ip) {
      inputs.push({ port: PORT_UNDERLAY, bytes: ip.bytes, label });
      inputs.push({ port: PORT_HOST, bytes: ip.bytes, label });
    }
  });
  return inputs;
}

describe("differential: kernel captures (test/vectors/kernel)", () => {
  const files = readdirSync(KERNEL_DIR).filter((f) => f.endsWith(".pcap")).sort();

  it("covers every capture in the directory", () => {
    const known = new Set(KERNEL_VARIANTS.flatMap((v) => [`${v.file}-pod.pcap`, `${v.file}-underlay.pcap`]));
    const formatSamples = ["any-sll.pcap", "any-sll2.pcap", "underlay-nano.pcap"]; // taken during vxlan4-default
    expect(files.filter((f) => !known.has(f) && !formatSamples.includes(f))).toEqual([]);
  });

  for (const v of KERNEL_VARIANTS) {
    for (const side of ["pod", "underlay"] as const) {
      const file = `${v.file}-${side}.pcap`;
      it(`${file}: every record agrees`, () => {
        const inputs = captureInputs(file);
        expectAgreement(file, tablesFor(kernelNodeA(v.family, { udpChecksum4: v.udpChecksum4 })), inputs, 10);
      });
    }
  }

  it("the format samples (any-sll, any-sll2, underlay-nano; taken during vxlan4-default) agree", () => {
    for (const file of ["any-sll.pcap", "any-sll2.pcap", "underlay-nano.pcap"]) {
      expectAgreement(file, tablesFor(kernelNodeA(4, { udpChecksum4: true })), captureInputs(file), 10);
    }
  });

  it("the captures carry decapsulated deliveries and encapsulated forwards (the test sees real traffic)", () => {
    for (const v of KERNEL_VARIANTS) {
      const tables = tablesFor(kernelNodeA(v.family, { udpChecksum4: v.udpChecksum4 }));
      const seen = new Map<string, number>();
      for (const input of [...captureInputs(`${v.file}-pod.pcap`), ...captureInputs(`${v.file}-underlay.pcap`)]) {
        tables.dp.putPacket(0, input.bytes, input.port);
        tables.dp.process(1, 0);
        const r = tables.dp.result(0);
        const k = `${input.port === PORT_HOST ? "host" : input.port === PORT_UNDERLAY ? "underlay" : "pod"}:${r.verdict === "drop" ? r.reason : r.verdict}`;
        seen.set(k, (seen.get(k) ?? 0) + 1);
      }
      expect(seen.get("pod:forward") ?? 0, v.file).toBeGreaterThan(8);
      // The kernel's zero UDP checksum over IPv6 (udp6zerocsumtx) is refused: RFC 8200 §8.1.
      if (v.file === "vxlan6-zerocsum") expect(seen.get("underlay:UnderlayBadChecksum") ?? 0, v.file).toBeGreaterThan(5);
      else expect(seen.get("underlay:deliver") ?? 0, v.file).toBeGreaterThan(5);
    }
  });
});

// ---- 2. the scapy vectors ------------------------------------------------------------------------

describe("differential: scapy vectors (test/vectors/scapy.json)", () => {
  const inputs: DiffInput[] = [];
  for (const v of loadScapyVectors()) {
    const bytes = hexToBytes(v.hex);
    if (v.link === "ethernet") inputs.push({ port: 2, bytes, label: v.name });
    else {
      inputs.push({ port: PORT_HOST, bytes, label: v.name });
      inputs.push({ port: PORT_UNDERLAY, bytes, label: v.name });
    }
  }
  const configs: [string, NodeConfig][] = [];
  for (const family of [4, 6] as const) {
    configs.push([`node A, VXLAN, v${family} VTEP`, kernelNodeA(family)]);
    configs.push([`node A, Geneve, v${family} VTEP`, kernelNodeA(family, { encapsulation: "geneve", udpChecksum4: true })]);
    configs.push([`node B, VXLAN, v${family} VTEP`, kernelNodeB(family)]);
    configs.push([`node B, VXLAN port 4789 VNI 4096, v${family} VTEP`, kernelNodeB(family, { port: 4789, vni: 4096 })]);
    configs.push([`node B, Geneve, v${family} VTEP`, kernelNodeB(family, { encapsulation: "geneve" })]);
    configs.push([`node B, Geneve VNI 0x123456, v${family} VTEP`, kernelNodeB(family, { encapsulation: "geneve", vni: 0x123456 })]);
  }
  for (const [name, config] of configs) {
    it(`${name}: every vector agrees on every port it fits`, () => {
      expectAgreement(`scapy vectors, ${name}`, tablesFor(config), inputs, inputs.length);
    });
  }
});

// ---- 3. seeded random inputs ---------------------------------------------------------------------

// The node of the random tests: three pods (C has no IPv6), a peer over each underlay family,
// host, pod, peer and blackhole routes.
const ROUTER_MAC = "02:00:00:01:00:01";
const VTEP_MAC = "02:aa:00:00:01:04";
const U4 = "10.99.0.1";
const U6 = "fd00:99::1";
const GW4 = "10.244.1.1";
const GW6 = "fd00:244:1::1";
interface PodDef { name: string; port: number; mac: string; ipv4: string; ipv6?: string }
const PODS: PodDef[] = [
  { name: "a", port: 2, mac: "02:00:00:01:00:11", ipv4: "10.244.1.11", ipv6: "fd00:244:1::11" },
  { name: "b", port: 3, mac: "02:00:00:01:00:12", ipv4: "10.244.1.12", ipv6: "fd00:244:1::12" },
  { name: "c", port: 4, mac: "02:00:00:01:00:13", ipv4: "10.244.1.13" },
];
interface PeerDef { name: string; underlay: string; vtepMac: string; net4: string; net6: string }
const PEERS: PeerDef[] = [
  { name: "p4", underlay: "10.99.0.2", vtepMac: "02:bb:00:00:02:04", net4: "10.244.2.", net6: "fd00:244:2::" },
  { name: "p6", underlay: "fd00:99::3", vtepMac: "02:cc:00:00:03:06", net4: "10.244.3.", net6: "fd00:244:3::" },
];

interface RandomConfig {
  name: string;
  encap: "vxlan" | "geneve";
  port: number;
  vni: number;
  underlay4: boolean;
  underlay6: boolean;
  underlayMtu: number;
  podMtu: number;
  udpChecksum4: boolean;
  /** Default routes (IPv4 and IPv6) to the host port: pods reach the outside through the node. */
  defaultViaHost?: boolean;
}
const RANDOM_CONFIGS: RandomConfig[] = [
  { name: "vxlan, dual-stack underlay, MTU 1500, default routes via the host", encap: "vxlan", port: 8472, vni: 1, underlay4: true, underlay6: true, underlayMtu: 1500, podMtu: 1450, udpChecksum4: false, defaultViaHost: true },
  { name: "geneve, dual-stack underlay, MTU 2200 (2000-byte datagrams pass)", encap: "geneve", port: 6081, vni: 7, underlay4: true, underlay6: true, underlayMtu: 2200, podMtu: 2100, udpChecksum4: true },
  { name: "vxlan port 4789 VNI 4096, IPv6-only underlay", encap: "vxlan", port: 4789, vni: 4096, underlay4: false, underlay6: true, underlayMtu: 1500, podMtu: 1280, udpChecksum4: false },
  { name: "geneve VNI 0x123456, IPv4-only underlay, pod MTU 576", encap: "geneve", port: 6081, vni: 0x123456, underlay4: true, underlay6: false, underlayMtu: 1400, podMtu: 576, udpChecksum4: true },
];

function randomNodeConfig(c: RandomConfig): NodeConfig {
  return parseNodeConfig({
    name: "n", encapsulation: c.encap, port: c.port, vni: c.vni, vtepMac: VTEP_MAC, routerMac: ROUTER_MAC,
    underlay: { ipv4: c.underlay4 ? U4 : undefined, ipv6: c.underlay6 ? U6 : undefined, mtu: c.underlayMtu },
    podCIDRs: ["10.244.1.0/24", "fd00:244:1::/64"], podMtu: c.podMtu, udpChecksum4: c.udpChecksum4, icmp: ICMP_UNLIMITED,
    peers: PEERS.map((p) => ({ name: p.name, underlay: p.underlay, vtepMac: p.vtepMac, podCIDRs: [`${p.net4}0/24`, `${p.net6}/64`] })),
    pods: PODS.map((p) => ({ name: p.name, mac: p.mac, ipv4: p.ipv4, ipv6: p.ipv6, port: p.port })),
    routes: [
      { dst: "10.96.0.0/12", via: "host" },
      { dst: "fd00:96::/108", via: "host" },
      { dst: "192.0.2.0/24", via: "blackhole" },
      { dst: "2001:db8:dead::/48", via: "blackhole" },
      { dst: "10.244.1.128/25", via: "pod:b" },
      { dst: "10.245.0.0/16", via: "peer:p6" },
      { dst: "fd00:245::/32", via: "peer:p4" },
      ...(c.defaultViaHost ? [{ dst: "0.0.0.0/0", via: "host" }, { dst: "::/0", via: "host" }] : []),
    ],
  });
}

type Rand = () => number;
const int = (r: Rand, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)]!;
const chance = (r: Rand, p: number) => r() < p;
const randBytes = (r: Rand, n: number) => Uint8Array.from({ length: n }, () => int(r, 256));

/** A seed: a valid (or deliberately odd) input, with where its headers end and its length fields. */
interface Seed {
  kind: string;
  port: number;
  bytes: Uint8Array;
  /** Bytes [0, hdr) are headers: the byte-flip mutations aim there. */
  hdr: number;
  /** Offsets of 16-bit length fields (IPv4 total length, IPv6 payload length, UDP length). */
  lenFields: number[];
}

function headerSize(l: Layer): number {
  switch (l.kind) {
    case "eth": return 14 + 4 * (l.vlanTags?.length ?? 0);
    case "arp": return 28;
    case "ipv4": return 20 + (l.options?.length ?? 0);
    case "ipv6": return 40 + l.extHeaders.reduce((n, e) => n + (e.type === 44 ? 8 : e.bytes.length), 0);
    case "udp": return 8;
    case "tcp": return 20 + (l.options?.length ?? 0);
    case "icmp": return 8;
    case "icmpv6": return 8 + (l.target === undefined ? 0 : 16 + (l.options ?? []).reduce((n, o) => n + Math.ceil((2 + (o.lladdr !== undefined ? 6 : o.data?.length ?? 0)) / 8) * 8, 0));
    case "vxlan": return 8;
    case "geneve": return 8 + l.options.reduce((n, o) => n + 4 + o.data.length, 0);
    case "payload": return 0;
  }
}

function seedOf(kind: string, port: number, layers: Layer[]): Seed {
  const bytes = build(layers);
  const lenFields: number[] = [];
  let off = 0;
  let hdr = 0;
  for (const l of layers) {
    if (l.kind === "ipv4") lenFields.push(off + 2);
    else if (l.kind === "ipv6") lenFields.push(off + 4);
    else if (l.kind === "udp") lenFields.push(off + 4);
    off += headerSize(l);
    if (l.kind !== "payload") hdr = off;
  }
  return { kind, port, bytes, hdr: Math.min(hdr, bytes.length), lenFields: lenFields.filter((o) => o + 2 <= bytes.length) };
}

// Addresses the seeds draw from: every kind of destination the route table distinguishes, the
// first few (that go somewhere) more often.
const DST4 = (r: Rand): string =>
  (chance(r, 0.5) ? pick(r, ["10.244.1.12", "10.244.1.11", GW4, `10.244.2.${int(r, 256)}`, `10.244.3.${int(r, 256)}`]) : undefined) ??
  pick(r, [
    () => "10.244.1.12", () => "10.244.1.13", () => "10.244.1.11", () => GW4, () => "10.96.0.10",
    () => `10.244.2.${int(r, 256)}`, () => `10.244.3.${int(r, 256)}`, () => `10.245.${int(r, 256)}.${int(r, 256)}`,
    () => `10.244.1.${128 + int(r, 128)}`, () => `192.0.2.${int(r, 256)}`, () => `198.51.100.${int(r, 256)}`, () => "10.244.1.99",
    () => "224.0.0.251", () => "255.255.255.255", () => "127.0.0.1", () => "0.0.0.0", () => "10.244.1.255", () => U4,
  ])();
const DST6 = (r: Rand): string =>
  (chance(r, 0.5) ? pick(r, ["fd00:244:1::12", "fd00:244:1::11", GW6, `fd00:244:2::${int(r, 0x10000).toString(16)}`, `fd00:244:3::${int(r, 0x10000).toString(16)}`]) : undefined) ??
  pick(r, [
    () => "fd00:244:1::12", () => "fd00:244:1::11", () => "fd00:244:1::13", () => GW6, () => "fd00:96::10",
    () => `fd00:244:2::${int(r, 0x10000).toString(16)}`, () => `fd00:244:3::${int(r, 0x10000).toString(16)}`,
    () => `fd00:245:${int(r, 0x10000).toString(16)}::1`, () => "2001:db8:dead::1", () => "2001:db8::1", () => "ff02::1",
    () => "ff05::2", () => "fe80::1", () => "::1", () => "::", () => U6, () => linkLocalOf(ROUTER_MAC),
  ])();

/** Transport (or ICMP) layers for an IPv4 (`v` 4) or IPv6 packet of about `size` payload bytes. */
function transport(r: Rand, v: 4 | 6, size: number, quote: () => Uint8Array): { proto: number; layers: Layer[] } {
  const payload: Layer = { kind: "payload", bytes: randBytes(r, size) };
  switch (int(r, 6)) {
    case 0:
    case 1:
      return { proto: 17, layers: [{ kind: "udp", srcPort: 1024 + int(r, 60000), dstPort: pick(r, [53, 9999, 8472, 6081, 4789, int(r, 65536)]) }, payload] };
    case 2: {
      const options = chance(r, 0.3) ? Uint8Array.of(2, 4, 5, 0xb4, 1, 1, 4, 2) : undefined;
      return { proto: 6, layers: [{ kind: "tcp", srcPort: 1024 + int(r, 60000), dstPort: pick(r, [80, 443, 8080]), seq: int(r, 2 ** 32), ack: 0, flags: pick(r, [0x02, 0x10, 0x18, 0x11, 0x04]), window: 64240, urgent: 0, options }, payload] };
    }
    case 3:
      return v === 4
        ? { proto: 1, layers: [{ kind: "icmp", type: pick(r, [8, 0]), code: 0, rest: int(r, 2 ** 32) }, payload] }
        : { proto: 58, layers: [{ kind: "icmpv6", type: pick(r, [128, 129]), code: 0, rest: int(r, 2 ** 32) }, payload] };
    case 4:
      // An ICMP error (never answered with another) or an odd type
      return v === 4
        ? { proto: 1, layers: [{ kind: "icmp", type: pick(r, [3, 11, 12, 5, 4, 13, 42]), code: int(r, 4), rest: 0 }, { kind: "payload", bytes: quote() }] }
        : { proto: 58, layers: [{ kind: "icmpv6", type: pick(r, [1, 2, 3, 4, 127, 200]), code: int(r, 4), rest: 1280 }, { kind: "payload", bytes: quote() }] };
    default:
      return { proto: pick(r, [47, 50, 132, 253]), layers: [payload] };
  }
}

/** A payload size: tiny, ordinary, around each MTU the configurations use, or about 2000 bytes. */
function size(r: Rand, overhead: number): number {
  switch (int(r, 6)) {
    case 0: return int(r, 16);
    case 1: case 2: return 16 + int(r, 400);
    case 3: return Math.max(0, pick(r, [576, 1280, 1400, 1430, 1450, 1500, 2100, 2130, 2150]) - overhead + int(r, 33) - 16);
    case 4: return 1900 + int(r, 150);
    default: return 400 + int(r, 1200);
  }
}

const V4_OPTIONS = [
  Uint8Array.of(0x94, 4, 0, 0), // Router Alert (copied)
  Uint8Array.of(7, 7, 4, 0, 0, 0, 0, 0), // Record Route (not copied) + end of list
  Uint8Array.of(1, 1, 0x83, 7, 4, 10, 0, 0, 1, 0, 0, 0), // NOP NOP LSRR (copied)
  Uint8Array.of(0x44, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0), // Timestamp (not copied)
];

function ipv4Layer(r: Rand, src: string, dst: string, proto: number): Extract<Layer, { kind: "ipv4" }> {
  const frag = chance(r, 0.12);
  return {
    kind: "ipv4", tos: chance(r, 0.2) ? int(r, 256) : 0, id: int(r, 65536), df: chance(r, 0.5),
    mf: frag && chance(r, 0.6), fragOffset: frag && chance(r, 0.6) ? 8 * (1 + int(r, 300)) : 0,
    ttl: pick(r, [64, 64, 64, 2, 1, 0, 255]), protocol: proto, src, dst,
    options: chance(r, 0.12) ? pick(r, V4_OPTIONS) : undefined,
  };
}

function ext(type: 0 | 60 | 43 | 51, len8: number, r: Rand): Ipv6ExtHeader {
  const n = type === 51 ? 12 + 4 * len8 : 8 * (len8 + 1);
  const bytes = new Uint8Array(n);
  bytes[1] = type === 51 ? n / 4 - 2 : len8;
  if (type === 0 || type === 60) { bytes[2] = 1; bytes[3] = n - 4; } // PadN
  if (type === 43) { bytes[2] = pick(r, [0, 2, 4]); bytes[3] = int(r, 2); }
  return { type, nextHeader: 0, bytes };
}

/** An extension-header chain: none (mostly), the usual ones, fragments, and too long or misplaced ones. */
function extChain(r: Rand): Ipv6ExtHeader[] {
  const frag = (later: boolean): Ipv6ExtHeader => ({ type: 44, nextHeader: 0, fragOffset: later ? 8 * (1 + int(r, 200)) : 0, more: chance(r, 0.6), id: int(r, 2 ** 32) });
  switch (int(r, 14)) {
    case 0: return [ext(0, 0, r)];
    case 1: return [ext(60, int(r, 3), r)];
    case 2: return [ext(43, 0, r)];
    case 3: return [frag(false)];
    case 4: return [frag(true)];
    case 5: return [ext(0, 0, r), ext(60, 0, r), ext(43, 0, r), frag(false), ext(60, 0, r)];
    case 6: return Array.from({ length: 7 + int(r, 4) }, () => ext(60, 0, r));
    case 7: return [ext(60, 0, r), ext(0, 0, r)]; // hop-by-hop not first
    case 8: return [ext(51, 1, r)];
    case 9: return [...Array.from({ length: 8 }, () => ext(60, 0, r)), frag(chance(r, 0.5))];
    default: return [];
  }
}

function ipv6Layer(r: Rand, src: string, dst: string, proto: number, hopLimit?: number): Extract<Layer, { kind: "ipv6" }> {
  const exts = extChain(r);
  // Link the chain: each header's next header is the following one's type; the last's is `proto`.
  const linked = exts.map((e, i) => ({ ...e, nextHeader: i + 1 < exts.length ? exts[i + 1]!.type : proto })) as Ipv6ExtHeader[];
  for (const e of linked) if (e.type !== 44) e.bytes[0] = e.nextHeader;
  return {
    kind: "ipv6", trafficClass: chance(r, 0.2) ? int(r, 256) : 0, flowLabel: chance(r, 0.3) ? int(r, 0x100000) : 0,
    nextHeader: linked.length ? linked[0]!.type : proto, hopLimit: hopLimit ?? pick(r, [64, 64, 64, 2, 1, 0, 255]), src, dst, extHeaders: linked,
  };
}

/** A bare IP packet (IPv4 or IPv6) from `src`; its destination drawn from every route kind. */
function ipPacket(r: Rand, v: 4 | 6, src: string, dst?: string): Layer[] {
  const d = dst ?? (v === 4 ? DST4(r) : DST6(r));
  const quote = () => build(ipPacket(r, v, d, src).slice(0, 2)).subarray(0, 28 + int(r, 100));
  const t = transport(r, v, size(r, v === 4 ? 28 : 48), quote);
  if (v === 4) return [ipv4Layer(r, src, d, t.proto), ...t.layers];
  return [ipv6Layer(r, src, d, t.proto), ...t.layers];
}

/** RFC 4291 §2.7.1: the solicited-node multicast address of `a` (ff02::1:ffXX:XXXX). */
function solicitedNode(a: string): string {
  const b = parseIp6(a);
  return formatIp6(Uint8Array.of(0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, b[13]!, b[14]!, b[15]!));
}

/** Neighbour discovery from a pod: solicitations for the gateway (every valid and invalid way), RS, NA, MLD. */
function podNdp(r: Rand, pod: PodDef): Layer[] {
  const src = pick(r, [pod.ipv6 ?? "fd00:244:1::77", linkLocalOf(pod.mac), "::", "fd00:244:1::12", "fd00:244:9::1"]);
  const target = pick(r, [GW6, GW6, linkLocalOf(ROUTER_MAC), pod.ipv6 ?? "fd00:244:1::77", "fd00:244:1::99", "ff02::1"]);
  const dst = pick(r, [solicitedNode(target), target, "ff02::1", "ff02::2"]);
  const type = pick(r, [135, 135, 135, 135, 133, 134, 136, 137, 143, 130]);
  const options: NdpOption[] = chance(r, 0.7) ? [{ type: 1, lladdr: chance(r, 0.85) ? pod.mac : "02:00:00:09:09:09" }] : [];
  if (chance(r, 0.1)) options.push({ type: 14, data: randBytes(r, 6) }); // a nonce option
  const icmp: Layer = type === 135 || type === 136
    ? { kind: "icmpv6", type, code: chance(r, 0.9) ? 0 : 1, rest: type === 136 ? 0x60000000 : 0, target, options }
    : { kind: "icmpv6", type, code: 0, rest: 0 };
  const ethDst = dst.startsWith("ff") ? `33:33:${multicastMacTail(dst)}` : ROUTER_MAC;
  const ip6 = ipv6Layer(r, src, dst, 58, chance(r, 0.9) ? 255 : pick(r, [64, 1, 254]));
  if (chance(r, 0.85)) {
    ip6.extHeaders = [];
    ip6.nextHeader = 58;
  }
  return [{ kind: "eth", dst: chance(r, 0.9) ? ethDst : ROUTER_MAC, src: pod.mac, ethertype: 0x86dd }, ip6, icmp];
}
/** RFC 2464 §7: a multicast frame's MAC is 33:33 and the last four bytes of the group address. */
function multicastMacTail(dst: string): string {
  return [...parseIp6(dst).subarray(12, 16)].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

function podArp(r: Rand, pod: PodDef): Layer[] {
  const op = pick(r, [1, 1, 1, 2, 3]);
  return [
    { kind: "eth", dst: pick(r, ["ff:ff:ff:ff:ff:ff", ROUTER_MAC, "02:00:00:09:09:09"]), src: pod.mac, ethertype: 0x0806 },
    {
      kind: "arp", op, senderMac: chance(r, 0.9) ? pod.mac : "02:00:00:09:09:09",
      senderIp: pick(r, [pod.ipv4, pod.ipv4, pod.ipv4, "0.0.0.0", "10.244.1.12"]),
      targetMac: pick(r, ["00:00:00:00:00:00", ROUTER_MAC]), targetIp: pick(r, [GW4, GW4, pod.ipv4, "10.244.1.12", "10.244.1.2"]),
    },
  ];
}

/** Frames a pod sends: IP to every destination, ARP, NDP, and Ethernet oddities. */
function podSeed(r: Rand): Seed {
  const pod = chance(r, 0.8) ? PODS[0]! : pick(r, PODS);
  const port = chance(r, 0.02) ? 9 : pod.port; // 9: no pod attached
  const k = int(r, 20);
  if (k < 2) return seedOf("pod ARP", port, podArp(r, pod));
  if (k < 5) return seedOf("pod NDP", port, podNdp(r, pod));
  const v: 4 | 6 = k < 12 ? 4 : 6;
  const src = chance(r, 0.9) ? (v === 4 ? pod.ipv4 : pod.ipv6 ?? "fd00:244:1::13") : v === 4 ? pick(r, ["10.244.1.12", "0.0.0.0", "10.244.2.5"]) : pick(r, ["fd00:244:1::12", linkLocalOf(pod.mac), "::"]);
  const ip = ipPacket(r, v, src);
  const ethDst = chance(r, 0.9) ? ROUTER_MAC : pick(r, ["ff:ff:ff:ff:ff:ff", "33:33:00:00:00:01", "01:00:5e:00:00:fb", "02:00:00:09:09:09"]);
  const eth: Layer = { kind: "eth", dst: ethDst, src: chance(r, 0.95) ? pod.mac : "02:00:00:01:00:12", ethertype: v === 4 ? 0x0800 : 0x86dd };
  if (chance(r, 0.03)) eth.vlanTags = [int(r, 4096)];
  if (chance(r, 0.02)) eth.ethertype = pick(r, [0x88cc, 0x8035, 0x0842, v === 4 ? 0x86dd : 0x0800]);
  return seedOf(`pod IPv${v} ${ip[1]!.kind}`, port, [eth, ...ip]);
}

/** Packets from the node's own stack: any source it may use, to every destination. */
function hostSeed(r: Rand): Seed {
  const v: 4 | 6 = chance(r, 0.5) ? 4 : 6;
  const src = v === 4
    ? pick(r, ["10.96.0.1", GW4, "192.168.5.5", "10.244.1.12", "0.0.0.0", "127.0.0.1", "224.0.0.1", "10.244.2.3", "240.0.0.7", "255.255.255.255"])
    : pick(r, ["fd00:96::1", GW6, "fd00:244:1::12", "2001:db8::5", "fe80::1", "::", "ff02::1"]);
  const ip = ipPacket(r, v, src);
  return seedOf(`host IPv${v} ${ip[1]!.kind}`, PORT_HOST, ip);
}

const GENEVE_OPTIONS = [
  { optClass: 0x0102, type: 0x01, data: Uint8Array.of(0, 0, 0, 42) },
  { optClass: 0xffff, type: 0x05, data: new Uint8Array(0) },
  { optClass: 0x0103, type: 0x80, data: Uint8Array.of(1, 2, 3, 4) }, // critical
];

/** Tunnel traffic: from each peer (and strangers), VXLAN or Geneve, with inner packets of every kind. */
function underlaySeed(r: Rand, c: RandomConfig): Seed {
  // Mostly from a peer over an underlay family we have (the others are UnderlayNotForUs)
  const usable = PEERS.filter((p) => (p.underlay.includes(":") ? c.underlay6 : c.underlay4));
  const peer = chance(r, 0.9) ? pick(r, usable) : pick(r, PEERS);
  const outer6 = peer.underlay.includes(":");
  const src = chance(r, 0.93) ? peer.underlay : pick(r, outer6 ? ["fd00:99::9", "fd00:99::1"] : ["10.99.0.9", "10.99.0.1"]);
  const dst = chance(r, 0.95) ? (outer6 ? U6 : U4) : pick(r, outer6 ? ["fd00:99::2", "ff02::1"] : ["10.99.0.3", "255.255.255.255"]);
  // The inner packet, from the peer's pods (sometimes from someone else's)
  const v: 4 | 6 = chance(r, 0.5) ? 4 : 6;
  const owner = chance(r, 0.92) ? peer : pick(r, PEERS);
  const innerSrc = chance(r, 0.95)
    ? (v === 4 ? `${owner.net4}${int(r, 256)}` : `${owner.net6}${int(r, 0x10000).toString(16)}`)
    : v === 4 ? pick(r, ["10.244.1.12", "10.99.0.2", "10.245.0.1"]) : pick(r, ["fd00:244:1::12", "fe80::5", "fd00:245::1"]);
  // Mostly to this node's pods and host (decapsulated traffic has nowhere else to go)
  const innerDst = chance(r, 0.6) ? pick(r, v === 4 ? ["10.244.1.11", "10.244.1.12", "10.244.1.13", GW4, "10.96.0.3"] : ["fd00:244:1::11", "fd00:244:1::12", GW6]) : undefined;
  const inner = ipPacket(r, v, innerSrc, innerDst);
  const innerEth: Layer = {
    kind: "eth", dst: chance(r, 0.95) ? VTEP_MAC : pick(r, ["ff:ff:ff:ff:ff:ff", "02:aa:00:00:01:06", ROUTER_MAC]),
    src: peer.vtepMac, ethertype: chance(r, 0.97) ? (v === 4 ? 0x0800 : 0x86dd) : pick(r, [0x0806, 0x8100, 0x88cc]),
  };
  const encap = chance(r, 0.95) ? c.encap : c.encap === "vxlan" ? "geneve" : "vxlan";
  const vni = chance(r, 0.95) ? c.vni : pick(r, [0, 1, 7, 4096, 0x123456, 0xffffff]);
  const tunnel: Layer = encap === "vxlan"
    ? { kind: "vxlan", flags: chance(r, 0.9) ? 0x08 : pick(r, [0x00, 0x0c, 0x88, 0xff]), vni, reserved1: chance(r, 0.95) ? 0 : int(r, 1 << 24), reserved2: chance(r, 0.95) ? 0 : int(r, 256) }
    : {
        kind: "geneve", version: chance(r, 0.97) ? 0 : int(r, 4), oam: chance(r, 0.03), critical: chance(r, 0.03),
        protocol: chance(r, 0.95) ? 0x6558 : pick(r, [0x0800, 0x86dd, 0x88cc]), vni,
        options: chance(r, 0.8) ? [] : GENEVE_OPTIONS.filter(() => chance(r, 0.5)),
      };
  const zeroCsum = outer6 ? chance(r, 0.05) : chance(r, 0.5);
  const udp: Layer = { kind: "udp", srcPort: 32768 + int(r, 28000), dstPort: chance(r, 0.95) ? c.port : pick(r, [8472, 4789, 6081, 53]), checksum: zeroCsum ? 0 : undefined };
  const outer: Layer = outer6
    ? ipv6Layer(r, src, dst, 17, chance(r, 0.9) ? 64 : pick(r, [1, 0]))
    : { ...ipv4Layer(r, src, dst, 17), ttl: chance(r, 0.9) ? 64 : pick(r, [1, 0]), options: chance(r, 0.05) ? pick(r, V4_OPTIONS) : undefined };
  if (outer.kind === "ipv6" && chance(r, 0.7)) { outer.extHeaders = []; outer.nextHeader = 17; }
  if (outer.kind === "ipv4" && chance(r, 0.7)) { outer.mf = false; outer.fragOffset = 0; }
  if (outer.kind === "ipv4" && chance(r, 0.03)) outer.protocol = pick(r, [6, 1, 47]);
  return seedOf(`underlay IPv${outer6 ? 6 : 4}/${encap}/IPv${v} ${inner[1]!.kind}`, PORT_UNDERLAY, [outer, udp, tunnel, innerEth, ...inner]);
}

// ---- mutations -------------------------------------------------------------------------------

const be16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;
const put16 = (b: Uint8Array, o: number, v: number) => { b[o] = (v >> 8) & 0xff; b[o + 1] = v & 0xff; };

/**
 * Repairs the checksums a receiver verifies, leniently (anything out of bounds is left alone):
 * IPv4 header checksums (outer and inner), the ICMPv6 checksum of a pod's NDP, the outer UDP
 * checksum of tunnel traffic (left zero when zero over IPv4). A mutated packet with valid checksums
 * reaches the deeper checks.
 */
function repairChecksums(port: number, b: Uint8Array, geneve: boolean): void {
  const ip = (off: number): { proto: number; l4: number; end: number; v: 4 | 6 } | undefined => {
    if (off + 20 > b.length) return undefined;
    const v = b[off]! >> 4;
    if (v === 4) {
      const ihl = (b[off]! & 0xf) * 4;
      if (ihl < 20 || off + ihl > b.length) return undefined;
      put16(b, off + 10, 0);
      put16(b, off + 10, internetChecksum(b, off, ihl));
      return { proto: b[off + 9]!, l4: off + ihl, end: Math.min(b.length, off + be16(b, off + 2)), v: 4 };
    }
    if (v === 6 && off + 40 <= b.length) {
      let nh = b[off + 6]!;
      let p = off + 40;
      for (let n = 0; n < 12 && [0, 43, 60, 51, 44].includes(nh) && p + 8 <= b.length; n++) {
        const next = b[p]!;
        p += nh === 44 ? 8 : nh === 51 ? (b[p + 1]! + 2) * 4 : (b[p + 1]! + 1) * 8;
        nh = next;
      }
      return { proto: nh, l4: p, end: Math.min(b.length, off + 40 + be16(b, off + 4)), v: 6 };
    }
    return undefined;
  };
  if (port === PORT_UNDERLAY) {
    const o = ip(0);
    if (!o || o.proto !== 17 || o.l4 + 8 > o.end) return;
    const udpLen = be16(b, o.l4 + 4);
    const t = o.l4 + 8;
    const innerEth = t + 8 + (geneve && t < b.length ? (b[t]! & 0x3f) * 4 : 0);
    if (innerEth + 14 <= b.length) ip(innerEth + 14);
    if (udpLen < 8 || o.l4 + udpLen > o.end || (o.v === 4 && be16(b, o.l4 + 6) === 0)) return;
    put16(b, o.l4 + 6, 0);
    const ps = o.v === 4 ? pseudoHeaderSum4(b.subarray(12, 16), b.subarray(16, 20), 17, udpLen) : pseudoHeaderSum6(b.subarray(8, 24), b.subarray(24, 40), 17, udpLen);
    const c = internetChecksum(b, o.l4, udpLen, ps);
    put16(b, o.l4 + 6, c === 0 ? 0xffff : c);
  } else if (port === PORT_HOST) {
    ip(0);
  } else if (b.length >= 14) {
    const i = ip(14);
    if (i && i.v === 6 && i.proto === 58 && i.l4 + 4 <= i.end) {
      put16(b, i.l4 + 2, 0);
      const ps = pseudoHeaderSum6(b.subarray(22, 38), b.subarray(38, 54), 58, i.end - i.l4);
      put16(b, i.l4 + 2, ~onesComplementSum(b, i.l4, i.end - i.l4, ps) & 0xffff);
    }
  }
}

/** One mutated copy of a seed and the name of what was done to it. */
function mutate(r: Rand, s: Seed, geneve: boolean): { bytes: Uint8Array; how: string } {
  let b = s.bytes.slice();
  let how: string;
  const k = int(r, 20);
  if (k < 4) {
    how = "as built";
  } else if (k < 11) {
    const n = 1 + int(r, 3);
    const at: number[] = [];
    for (let i = 0; i < n && s.hdr > 0; i++) {
      const o = int(r, s.hdr);
      b[o] = chance(r, 0.5) ? b[o]! ^ (1 << int(r, 8)) : pick(r, [0, 0xff, 1, 0x80, int(r, 256)]);
      at.push(o);
    }
    how = `header bytes ${at.join(",")} changed`;
  } else if (k < 14) {
    b = b.slice(0, int(r, b.length));
    how = `truncated to ${b.length}`;
  } else if (k < 17 && s.lenFields.length) {
    const o = pick(r, s.lenFields);
    const old = be16(b, o);
    const v = chance(r, 0.6) ? (old + int(r, 41) - 20) & 0xffff : pick(r, [0, 1, 7, 8, 39, 40, 0xffff, int(r, 65536)]);
    put16(b, o, v);
    how = `length field @${o} ${old} → ${v}`;
  } else if (k < 18) {
    const extra = randBytes(r, 1 + int(r, 64));
    const c = new Uint8Array(b.length + extra.length);
    c.set(b);
    c.set(extra, b.length);
    b = c;
    how = `${extra.length} trailing bytes`;
  } else {
    const o = int(r, b.length || 1);
    if (b.length) b[o] = int(r, 256);
    how = `byte ${o} randomised`;
  }
  if (k >= 4 && chance(r, 0.7)) {
    repairChecksums(s.port, b, geneve);
    how += ", checksums repaired";
  }
  return { bytes: b, how };
}

/** The random inputs of one port kind for one configuration: a pool of seeds, mutated. */
function* randomInputs(c: RandomConfig, kind: "pod" | "host" | "underlay", count: number, seed: number): Generator<DiffInput> {
  const r = prng(seed);
  const pool: Seed[] = [];
  const poolSize = Math.min(count, 3000);
  for (let i = 0; i < poolSize; i++) pool.push(kind === "pod" ? podSeed(r) : kind === "host" ? hostSeed(r) : underlaySeed(r, c));
  for (let i = 0; i < count; i++) {
    const s = pool[i < poolSize ? i : int(r, poolSize)]!;
    const m = mutate(r, s, c.encap === "geneve");
    yield { port: s.port, bytes: m.bytes, label: `[${c.name}] #${i} ${s.kind}, ${m.how}` };
  }
}

// ---- known deviations of the Wasm from the RFCs -----------------------------------------------
// Where the two sides disagree and the RFCs side with the model, the model keeps the RFC behaviour
// and the Wasm is reported: one failing test each (below, "known deviations"), with a minimal
// input. The random tests set exactly those mismatches aside, by these predicates, so that they
// still catch anything else. Delete an entry once assembly/ is fixed.

interface PodIpv6Info { ethGroup: boolean; src: Uint8Array; dst: Uint8Array; icmpType: number; extHeaders: number[]; target?: string; sllao: boolean }
/** What a pod frame carrying IPv6 is, leniently (undefined for anything else or unparsable). */
function podIpv6Info(m: Mismatch): PodIpv6Info | undefined {
  const b = m.input.bytes;
  if (m.input.port < 2 || b.length < 54 || ((b[12]! << 8) | b[13]!) !== 0x86dd) return undefined;
  try {
    const p = parseIpv6(b.subarray(14));
    const icmpType = p.upperProtocol === 58 && p.upperHeaderPresent && p.payload.length > 0 ? p.payload[0]! : -1;
    const ns = icmpType === 135 && p.payload.length >= 24;
    let sllao = false;
    for (let off = 24; ns && off + 2 <= p.payload.length && p.payload[off + 1]! > 0; off += p.payload[off + 1]! * 8) if (p.payload[off] === 1) sllao = true;
    return {
      ethGroup: (b[0]! & 1) !== 0, src: b.subarray(22, 38), dst: b.subarray(38, 54), icmpType,
      extHeaders: p.repr.extHeaders.map((e) => e.type), target: ns ? formatIp6(p.payload, 8) : undefined, sllao,
    };
  } catch {
    return undefined;
  }
}

const isSolicitedNode = (a: Uint8Array) => a[0] === 0xff && a[1] === 0x02 && a.subarray(2, 11).every((x) => x === 0) && a[11] === 1 && a[12] === 0xff;

const KNOWN_WASM_BUGS: { id: string; is: (m: Mismatch) => boolean }[] = [
  // none open: the DAD validity checks of RFC 4861 §7.1.1 were fixed in assembly/stage/ingress.ts
];

/**
 * The random inputs reach every stage: a share of them is delivered or forwarded, and each port
 * kind meets the drops and events its seeds are built to provoke (the Wasm's own counters).
 */
function expectCoverage(tables: NodeTables, c: RandomConfig, kind: "pod" | "host" | "underlay", count: number): void {
  if (count < 20_000) return; // small runs (WEFT_DIFF_PER_PORT) need not meet every case
  const { drops, events } = tables.dp.counters();
  const dropped = Object.values(drops).reduce((a, b) => a + b, 0n);
  // (host-port seeds include martian sources and destinations, dropped by RFC 1812 §5.3.7)
  expect(Number(BigInt(count) - dropped), "inputs delivered or forwarded").toBeGreaterThan(count * 0.06);
  const want: (keyof typeof drops)[] = {
    pod: ["SpoofedMac", "SpoofedIp", "EthNotForRouter", "EthTruncated", "ArpIgnored", "NdpMalformed", "NdpIgnored", "Ipv6BadExtHeader", "LinkLocalNotRouted", "TtlExceeded", "FragNeeded", "PacketTooBig", "Blackhole"] as (keyof typeof drops)[],
    host: ["NotIp", "HostLoop", "MulticastNotRouted", "LinkLocalNotRouted", "TtlExceeded", "FragNeeded", "PacketTooBig", "Blackhole"] as (keyof typeof drops)[],
    underlay: ["UnderlayNotForUs", "UnknownPeer", "UnderlayBadChecksum", "UnderlayFragment", "NotTunnelPort", "VniMismatch", "InnerBadDstMac", "InnerMalformed", "UnderlayHairpin", "SpoofedIp", "TtlExceeded", "FragNeeded", "PacketTooBig",
      ...(c.encap === "vxlan" ? ["VxlanBadFlags"] : ["GeneveCriticalOption", "GeneveOam", "GeneveNotEthernet", "GeneveMalformed"])] as (keyof typeof drops)[],
  }[kind];
  if (!c.defaultViaHost) want.push("NoRoute");
  if (!(c.underlay4 && c.underlay6) && kind !== "underlay") want.push("NoUnderlayAddress");
  expect(want.filter((r) => drops[r] === 0n), "drop reasons never met").toEqual([]);
  const ev: (keyof typeof events)[] = ["icmpErrorsSent", "fragmentsSent", ...(kind === "pod" ? ["arpReplies", "ndpAdverts"] as const : []), ...(kind === "host" ? ["icmpSuppressed"] as const : [])];
  expect(ev.filter((e) => events[e] === 0n), "events never seen").toEqual([]);
}

/** Mismatches not explained by a known Wasm deviation, and how many each known one explained. */
function unexplained(mismatches: Mismatch[]): { rest: Mismatch[]; known: Map<string, number> } {
  const known = new Map<string, number>();
  const rest: Mismatch[] = [];
  for (const m of mismatches) {
    const bug = KNOWN_WASM_BUGS.find((k) => k.is(m));
    if (bug) known.set(bug.id, (known.get(bug.id) ?? 0) + 1);
    else rest.push(m);
  }
  return { rest, known };
}

describe("differential: seeded random inputs", () => {
  const perConfig = Math.ceil(PER_PORT / RANDOM_CONFIGS.length);
  RANDOM_CONFIGS.forEach((c, ci) => {
    for (const kind of ["pod", "host", "underlay"] as const) {
      it(`${c.name}: ${perConfig} ${kind} inputs agree`, () => {
        const tables = tablesFor(randomNodeConfig(c));
        const inputs = randomInputs(c, kind, perConfig, 0x5eed0000 + ci * 16 + ["pod", "host", "underlay"].indexOf(kind));
        const r = compareWithModel(tables, inputs);
        expect(r.skipped, "inputs larger than a slot").toBe(0);
        expect(r.total).toBe(perConfig);
        const { rest, known } = unexplained(r.mismatches);
        if (known.size) console.info(`[${c.name}, ${kind}] set aside as known Wasm deviations (see "known deviations"): ${[...known].map(([id, n]) => `${n} × ${id}`).join("; ")}`);
        if (rest.length) expect.fail(report(`${c.name}, ${kind}`, r.total, rest));
        expectCoverage(tables, c, kind, perConfig);
      });
    }
  });
});

// datapath.runtime "aot" (docs/AOT.md) runs the same AssemblyScript built without SIMD and compiled
// to C by wasm2c: for the same inputs it must give exactly what V8 gives with build/weft.wasm —
// verdicts, reasons, every output byte, and every counter.
describe("differential: the AOT runtime against V8 (seeded random inputs)", () => {
  const perConfig = Math.ceil(Math.min(PER_PORT, 30_000) / RANDOM_CONFIGS.length);
  RANDOM_CONFIGS.forEach((c, ci) => {
    it(`${c.name}: ${perConfig} pod, host and underlay inputs each, byte for byte`, () => {
      const config = randomNodeConfig(c);
      const v8 = tablesFor(config).dp, aot = tablesFor(config, "aot").dp;
      expect(aot.aot).toBeDefined();
      let outputs = 0;
      for (const kind of ["pod", "host", "underlay"] as const) {
        for (const input of randomInputs(c, kind, perConfig, 0xa0700000 + ci * 16 + ["pod", "host", "underlay"].indexOf(kind))) {
          let fits = true;
          for (const dp of [v8, aot]) try { dp.putPacket(0, input.bytes, input.port); } catch { fits = false; }
          if (!fits) continue;
          const n = v8.process(1, 0);
          expect(aot.process(1, 0)).toBe(n);
          expect(aot.result(0)).toEqual(v8.result(0));
          for (let k = 0; k < n; k++) {
            expect(aot.tx(k)).toEqual(v8.tx(k));
            expect(bytesToHex(aot.txBytes(k))).toBe(bytesToHex(v8.txBytes(k)));
          }
          outputs += n;
        }
      }
      expect(outputs).toBeGreaterThan(perConfig / 4); // most random inputs are dropped (and their counters compared)
      expect(aot.counters()).toEqual(v8.counters());
    });
  });
});

// RFC behaviours the Wasm once lacked (found by this file; fixed in a1df871), each with a minimal
// input and the RFC's expectation, on top of agreeing with the model.
describe("RFC rules the differential tests found missing (regressions)", () => {
  const config = kernelNodeA(4, { routes: [{ dst: "0.0.0.0/0", via: "host" }] });
  const run = (port: number, layers: Layer[]) => {
    const tables = tablesFor(config);
    const bytes = build(layers);
    const r = compareWithModel(tables, [{ port, bytes, label: "minimal" }]);
    tables.dp.putPacket(0, bytes, port);
    const n = tables.dp.process(1, 0);
    return { bytes, mismatches: r.mismatches, result: tables.dp.result(0), out: Array.from({ length: n }, (_, k) => tables.dp.txBytes(k)) };
  };
  const explain = (x: { bytes: Uint8Array; mismatches: Mismatch[] }) => `input ${bytesToHex(x.bytes)}\n${x.mismatches.map(describeMismatch).join("\n")}`;

  it("RFC 4443 §2.4(e.5): nothing routed, so no ICMPv6 error, from a unicast packet in a link-layer broadcast", () => {
    // Pod A → fd00:244:1::99 (no such pod, no route), in a frame to ff:ff:ff:ff:ff:ff.
    const x = run(2, [
      { kind: "eth", dst: "ff:ff:ff:ff:ff:ff", src: POD_A_MAC, ethertype: 0x86dd },
      { kind: "ipv6", trafficClass: 0, flowLabel: 0, nextHeader: 17, hopLimit: 64, src: "fd00:244:1::11", dst: "fd00:244:1::99", extHeaders: [] },
      { kind: "udp", srcPort: 1000, dstPort: 2000 },
      { kind: "payload", bytes: new Uint8Array(4) },
    ]);
    expect(x.result.reason, explain(x)).toBe("MulticastNotRouted");
    expect(x.out, explain(x)).toEqual([]);
    expect(x.mismatches.map(describeMismatch)).toEqual([]);
  });

  it("RFC 4861 §7.1.1, §7.2.4: a solicitation for the gateway with a Destination Options header is answered", () => {
    const dstOpts: Ipv6ExtHeader = { type: 60, nextHeader: 58, bytes: Uint8Array.of(58, 0, 1, 4, 0, 0, 0, 0) };
    const x = run(2, neighborSolicitation("fd00:244:1::11", "ff02::1:ff00:1", [dstOpts], [{ type: 1, lladdr: POD_A_MAC }]));
    expect(x.result.verdict, explain(x)).toBe("deliver");
    expect(x.mismatches.map(describeMismatch)).toEqual([]);
  });

  it("RFC 826, RFC 5227 §2.1.1: an ARP probe (sender 0.0.0.0) for the gateway address is answered", () => {
    const x = run(2, [
      { kind: "eth", dst: "ff:ff:ff:ff:ff:ff", src: POD_A_MAC, ethertype: 0x0806 },
      { kind: "arp", op: 1, senderMac: POD_A_MAC, senderIp: "0.0.0.0", targetMac: "00:00:00:00:00:00", targetIp: "10.244.1.1" },
    ]);
    expect(x.result.verdict, explain(x)).toBe("deliver");
    expect(x.mismatches.map(describeMismatch)).toEqual([]);
  });

  it("RFC 4861 §7.2.4, RFC 4862 §5.4.3: duplicate address detection for the gateway address is answered to all-nodes", () => {
    const x = run(2, neighborSolicitation("::", "ff02::1:ff00:1", [], []));
    expect(x.result.verdict, explain(x)).toBe("deliver");
    expect(bytesToHex(x.out[0]!.subarray(0, 6)), explain(x)).toBe("333300000001");
    expect(x.mismatches.map(describeMismatch)).toEqual([]);
  });

  it("RFC 1812 §4.3.2.7, §5.3.7: a packet from a class E source is not routed, and earns no ICMP error", () => {
    // From the host port, 240.0.0.1 → pod A with TTL 1; the default route would carry an error.
    const x = run(PORT_HOST, [
      { kind: "ipv4", tos: 0, id: 1, df: false, mf: false, fragOffset: 0, ttl: 1, protocol: 17, src: "240.0.0.1", dst: "10.244.1.11" },
      { kind: "udp", srcPort: 1000, dstPort: 2000 },
      { kind: "payload", bytes: new Uint8Array(4) },
    ]);
    expect(x.result.reason, explain(x)).toBe("MartianSource");
    expect(x.out, explain(x)).toEqual([]);
    expect(x.mismatches.map(describeMismatch)).toEqual([]);
  });
});

/** A neighbour solicitation from pod A for the gateway fd00:244:1::1. */
function neighborSolicitation(src: string, dst: string, exts: Ipv6ExtHeader[], options: NdpOption[]): Layer[] {
  return [
    { kind: "eth", dst: `33:33:${multicastMacTail(dst)}`, src: POD_A_MAC, ethertype: 0x86dd },
    { kind: "ipv6", trafficClass: 0, flowLabel: 0, nextHeader: exts.length ? exts[0]!.type : 58, hopLimit: 255, src, dst, extHeaders: exts },
    { kind: "icmpv6", type: 135, code: 0, rest: 0, target: "fd00:244:1::1", options },
  ];
}

// Each of these fails until assembly/ follows the RFC; the expectation is the RFC's.
describe("known deviations of the Wasm from the RFCs (minimal inputs; these fail until assembly/ is fixed)", () => {
  const run = (layers: Layer[]) => {
    const tables = tablesFor(kernelNodeA(6));
    const bytes = build(layers);
    const r = compareWithModel(tables, [{ port: 2, bytes, label: "minimal" }]);
    tables.dp.putPacket(0, bytes, 2);
    const n = tables.dp.process(1, 0);
    return { bytes, mismatches: r.mismatches, result: tables.dp.result(0), n };
  };
  const explain = (x: { bytes: Uint8Array; mismatches: Mismatch[] }) => `input ${bytesToHex(x.bytes)}\n${x.mismatches.map(describeMismatch).join("\n")}`;

  it("RFC 4861 §7.1.1: a DAD solicitation for the gateway carrying a source link-layer address option is discarded, not answered", () => {
    const x = run(neighborSolicitation("::", "ff02::1:ff00:1", [], [{ type: 1, lladdr: POD_A_MAC }]));
    expect(x.result.reason, explain(x)).toBe("NdpMalformed");
    expect(x.n, explain(x)).toBe(0);
  });

  it("RFC 4861 §7.1.1: a DAD solicitation for the gateway not sent to its solicited-node address is discarded, not answered", () => {
    const x = run(neighborSolicitation("::", "ff02::1", [], []));
    expect(x.result.reason, explain(x)).toBe("NdpMalformed");
    expect(x.n, explain(x)).toBe(0);
  });

});
