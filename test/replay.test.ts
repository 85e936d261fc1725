// `weft replay` end to end: pcaps in, per-port pcaps and verdicts.jsonl out, through the CLI.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import * as F from "./helpers/frames.ts";
import { encodePcap, parsePcap, LinkType } from "../host/pcap/index.ts";
import { loadNodeConfig, parseNodeConfig, ConfigError } from "../host/config/node-config.ts";
import { replay } from "../host/replay/replay.ts";

const R = "02:00:00:00:00:fe";
let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), "weft-replay-")); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writePcap(name: string, linkType: number, frames: Uint8Array[], t0 = 100): string {
  const f = join(dir, name);
  writeFileSync(f, encodePcap(linkType, frames.map((data, k) => ({ ts: { sec: t0 + k, nsec: 0 }, data }))));
  return f;
}

describe("weft replay", () => {
  it("runs pod and underlay captures and explains every packet", async () => {
    const web = [
      F.eth(R, "02:aa:00:00:00:02", 0x0800, F.ipv4("10.244.1.2", "10.244.2.9", 17, F.udp("10.244.1.2", "10.244.2.9", 1, 53, new Uint8Array(8)))),
      F.eth(R, "02:aa:00:00:00:02", 0x0800, F.ipv4("10.244.1.66", "10.244.1.3", 1, F.icmpEcho())), // spoofed
      F.eth(R, "02:aa:00:00:00:02", 0x0800, F.ipv4("10.244.1.2", "10.244.1.3", 1, F.icmpEcho())),
    ];
    const inner = F.eth("02:00:00:00:00:01", "02:00:00:00:00:02", 0x0800, F.ipv4("10.244.2.9", "10.244.1.2", 1, F.icmpEcho()));
    const under = [
      // as tcpdump on the underlay NIC captures it: with an outer Ethernet header
      F.eth("02:11:11:11:11:11", "02:22:22:22:22:22", 0x0800, F.ipv4("192.168.0.2", "192.168.0.1", 17, F.udp("192.168.0.2", "192.168.0.1", 40000, 8472, F.vxlan(1, inner)))),
      F.eth("02:11:11:11:11:11", "02:22:22:22:22:22", 0x0800, F.ipv4("192.168.0.2", "192.168.0.1", 17, F.udp("192.168.0.2", "192.168.0.1", 40000, 8472, F.vxlan(7, inner)))),
    ];
    const s = await replay({
      config: loadNodeConfig("examples/tables.yaml"),
      inputs: [{ port: "pod:web", file: writePcap("web.pcap", LinkType.Ethernet, web, 100) }, { port: "underlay", file: writePcap("u.pcap", LinkType.Ethernet, under, 100.5 as number) }],
      outDir: join(dir, "out"),
    });
    expect(s.packets).toBe(5);
    const lines = readFileSync(join(dir, "out", "verdicts.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(lines).toEqual([
      { i: 0, in: "pod:web", verdict: "forward", out: "peer:node-b" },
      { i: 1, in: "underlay", verdict: "deliver", out: "pod:web" },
      { i: 2, in: "pod:web", verdict: "drop", reason: "SpoofedIp" },
      { i: 3, in: "underlay", verdict: "drop", reason: "VniMismatch" },
      { i: 4, in: "pod:web", verdict: "deliver", out: "pod:db" },
    ]);
    const u = parsePcap(readFileSync(join(dir, "out", "underlay.pcap")));
    expect(u.header.linkType).toBe(LinkType.Raw);
    expect(u.records).toHaveLength(1);
    expect(F.be16(u.records[0]!.data, 22)).toBe(8472);
    const db = parsePcap(readFileSync(join(dir, "out", "pod-db.pcap")));
    expect(db.header.linkType).toBe(LinkType.Ethernet);
    expect(db.records).toHaveLength(1);
    expect(existsSync(join(dir, "out", "pod-web.pcap"))).toBe(true);
  });

  it("works as a command and rejects bad configs naming the field", () => {
    const pcap = writePcap("h.pcap", LinkType.Raw, [F.ipv4("10.244.1.1", "10.244.1.3", 1, F.icmpEcho())]);
    const out = join(dir, "cli");
    const r = spawnSync(process.execPath, ["bin/weft.mjs", "replay", "--config", "examples/tables.yaml", "--in", `host=${pcap}`, "--out", out], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/1 packets: 1 deliver/);
    expect(JSON.parse(readFileSync(join(out, "verdicts.jsonl"), "utf8"))).toEqual({ i: 0, in: "host", verdict: "deliver", out: "pod:db" });

    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "name: x\nvtepMac: 02:00:00:00:00:01\nunderlay: {ipv4: 10.0.0.1}\npodCIDRs: [10.244.1.0/24]\nvni: 99999999\n");
    const r2 = spawnSync(process.execPath, ["bin/weft.mjs", "replay", "--config", bad, "--in", `host=${pcap}`, "--out", out], { encoding: "utf8" });
    expect(r2.status).toBe(2);
    expect(r2.stderr).toMatch(/vni: must be an integer in 0\.\.16777215/);
  });

  it("validates every config field with a message naming it", () => {
    const base = { name: "n", vtepMac: "02:00:00:00:00:01", underlay: { ipv4: "10.0.0.1" }, podCIDRs: ["10.244.1.0/24"] };
    expect(parseNodeConfig(base).gateway4).toBe("10.244.1.1");
    expect(parseNodeConfig(base).mtu.pod).toBe(1450);
    const bad: [object, RegExp][] = [
      [{ ...base, vtepMac: "01:00:00:00:00:01" }, /vtepMac: must be a unicast MAC/],
      [{ ...base, podCIDRs: ["10.244.1.1/24"] }, /podCIDRs\[0\]: .*host bits/],
      [{ ...base, underlay: {} }, /underlay: needs an ipv4 or an ipv6/],
      [{ ...base, peers: [{ name: "b", underlay: "x", vtepMac: "02:00:00:00:00:02" }] }, /peers\[0\]\.underlay: not an IP/],
      [{ ...base, pods: [{ name: "p", mac: "02:00:00:00:00:09", ipv4: "10.9.9.9" }] }, /pods\[0\]\.ipv4: 10\.9\.9\.9 is outside/],
      [{ ...base, routes: [{ dst: "0.0.0.0/0", via: "peer:nope" }] }, /routes\[0\]\.via/],
      [{ ...base, colour: "blue" }, /colour: unknown field/],
      [{ ...base, offloads: { udpGso: "yes" } }, /offloads\.udpGso: must be true or false/],
      [{ ...base, offloads: { udpGro: 1 } }, /offloads\.udpGro: must be true or false/],
      [{ ...base, offloads: { gso: true } }, /offloads\.gso: unknown field/],
      [{ ...base, offloads: true }, /offloads: must be a mapping/],
    ];
    for (const [cfg, re] of bad) expect(() => parseNodeConfig(cfg)).toThrow(re);
    expect(() => parseNodeConfig({ ...base, encapsulation: "gre" })).toThrow(ConfigError);
    expect(parseNodeConfig(base).offloads).toEqual({ tun: true, udpGso: true, udpGro: true });  // on by default, each probed
    expect(parseNodeConfig({ ...base, offloads: { tun: false, udpGso: false, udpGro: false } }).offloads).toEqual({ tun: false, udpGso: false, udpGro: false });
    expect(parseNodeConfig({ ...base, offloads: { udpGro: false } }).offloads).toEqual({ tun: true, udpGso: true, udpGro: false });
  });
});
