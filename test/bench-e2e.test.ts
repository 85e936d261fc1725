// Smoke test of `npm run bench:e2e`: a tiny run (1 round, 1 s TCP, 20 pings) of both
// implementations, as root in network namespaces. It checks the JSON document's shape and that
// everything the benchmark made is gone afterwards; the numbers themselves are not judged here.
import { describe, it, expect } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeRequiring } from "./helpers/require.ts";

const repo = new URL("..", import.meta.url).pathname;
const isRoot = process.getuid?.() === 0;
const hasIperf3 = spawnSync("sh", ["-c", "command -v iperf3"]).status === 0;

function netnsList(): Set<string> {
  return new Set(spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout.split("\n").map((l) => l.split(" ")[0]!).filter(Boolean));
}

function runBench(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ["--import", "tsx", "bench/e2e.ts", ...args], { cwd: repo, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    p.stdout.on("data", (d) => { stdout += d; });
    p.stderr.on("data", (d) => { stderr += d; });
    // SIGINT exercises the benchmark's own cleanup path if it ever hangs.
    const t = setTimeout(() => p.kill("SIGINT"), timeoutMs);
    p.on("close", (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
  });
}

describeRequiring(!isRoot || !hasIperf3)("bench:e2e (needs root and iperf3)", () => {
  it("measures Weft and the kernel's VXLAN and writes results, ratios and targets", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bench-e2e-test-"));
    const out = join(dir, "e2e.json");
    const before = netnsList();
    try {
      const r = await runBench(["--quick", "--time", "1", "--tests", "tcp1,rtt", "--pings", "20", "--ping-interval", "0.01",
        "--sockperf", "0", "--warmup", "0", "--settle", "0", "--quiet-wait", "0", "--json", out], 80_000);
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
      const j = JSON.parse(readFileSync(out, "utf8")) as { results: Record<string, unknown>[]; ratios: Record<string, number>; targets: Record<string, { met: boolean }> };
      expect(Object.keys(j)).toEqual(expect.arrayContaining(["results", "ratios"]));
      for (const impl of ["weft", "kernel-vxlan"]) {
        for (const [test, unit] of [["tcp1", "Gbit/s"], ["rtt", "us"]] as const) {
          const res = j.results.find((x) => x.impl === impl && x.test === test);
          expect(res, `${impl} ${test}`).toBeDefined();
          expect(res!.unit).toBe(unit);
          expect(typeof res!.value).toBe("number");
          expect(res!.value as number).toBeGreaterThan(0);
        }
      }
      for (const x of j.results) {
        expect(["weft", "kernel-vxlan"]).toContain(x.impl);
        expect(["tcp1", "tcp4", "udp64", "rtt"]).toContain(x.test);
      }
      expect(Object.keys(j.ratios).sort()).toEqual(["rtt", "tcp1"]);
      for (const v of Object.values(j.ratios)) expect(v).toBeGreaterThan(0);
      expect(typeof j.targets.tcp1?.met).toBe("boolean");
      expect(typeof j.targets.rtt?.met).toBe("boolean");
      // Nothing left behind: no namespace that was not there before.
      expect([...netnsList()].filter((n) => !before.has(n) && /^wb[0-9a-f]{4}/.test(n))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 100_000);
});

describeRequiring(!isRoot || !hasIperf3)("bench:e2e c-relay floor (needs root, iperf3 and a C compiler)", () => {
  it("builds the C relay, measures it beside the kernel and reports its ping over the kernel's", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bench-e2e-relay-"));
    const out = join(dir, "e2e.json");
    const before = netnsList();
    try {
      const r = await runBench(["--quick", "--impls", "c-relay,kernel-vxlan", "--tests", "rtt,tcp1", "--time", "1", "--pings", "20",
        "--sockperf", "0", "--warmup", "0", "--settle", "0", "--quiet-wait", "0", "--json", out], 80_000);
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
      const j = JSON.parse(readFileSync(out, "utf8")) as { results: { impl: string; test: string; value: number }[]; rttOverKernelUs: Record<string, number> };
      for (const test of ["rtt", "tcp1"]) expect(j.results.find((x) => x.impl === "c-relay" && x.test === test)?.value).toBeGreaterThan(0);
      expect(typeof j.rttOverKernelUs["c-relay"]).toBe("number");
      expect(r.stdout).toMatch(/ping p50 over the kernel's: c-relay [+-]\d/);
      expect([...netnsList()].filter((n) => !before.has(n) && /^wb[0-9a-f]{4}/.test(n))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 100_000);
});

describe("bench:e2e --loop (options only)", () => {
  it("makes one Weft implementation per loop and worker count, with the loop in the name", async () => {
    const { parseOptions, loopOf, workersOf } = await import("../bench/e2e/options.ts");
    const o = parseOptions(["--loop", "native,libuv,epoll,epoll:20", "--workers", "1,2"]);
    if (o === "help") throw new Error("help");
    expect(o.impls).toEqual(["weft", "weft-w2", "weft-libuv", "weft-w2-libuv", "weft-epoll", "weft-w2-epoll", "weft-epoll-s20", "weft-w2-epoll-s20", "kernel-vxlan"]);
    expect(o.impls.map((i) => [workersOf(i), loopOf(i)])).toEqual([
      [1, { loop: "native" }], [2, { loop: "native" }], [1, { loop: "libuv" }], [2, { loop: "libuv" }],
      [1, { loop: "epoll", spinUs: 0 }], [2, { loop: "epoll", spinUs: 0 }],
      [1, { loop: "epoll", spinUs: 20 }], [2, { loop: "epoll", spinUs: 20 }], [undefined, undefined],
    ]);
    const d = parseOptions([]);
    if (d === "help") throw new Error("help");
    expect(d.impls).toEqual(["weft", "kernel-vxlan"]);
  });
  it("rejects unknown loops and spins out of range", async () => {
    const { parseOptions } = await import("../bench/e2e/options.ts");
    for (const bad of ["busy", "libuv:5", "epoll:2000", "epoll:x", "native:2000000", ","]) expect(() => parseOptions(["--loop", bad])).toThrow(/--loop/);
    const o = parseOptions(["--loop", "native,native:300,native:20000"]);
    if (o === "help") throw new Error("help");
    expect(o.impls).toEqual(["weft", "weft-s300", "weft-s20000", "kernel-vxlan"]);
  });
  it("writes the loop of the implementation into the router config", async () => {
    const { configFile } = await import("../bench/e2e/weft-router.ts");
    const { parseNodeConfig } = await import("../host/config/node-config.ts");
    const c = parseNodeConfig({ name: "n1", vtepMac: "02:00:00:00:00:01", underlay: { ipv4: "192.168.9.1" }, podCIDRs: ["10.9.1.0/24"] });
    expect(configFile(c, { netns: false, loop: { loop: "libuv" } }).datapath).toEqual({ loop: "libuv", spinUs: 0 });
    expect(configFile(c, { netns: false, loop: { loop: "native" } }).datapath).toEqual({ loop: "native", spinUs: 0 });
    const f = configFile(c, { netns: false, workers: 1, loop: { loop: "epoll", spinUs: 20 } });
    expect(f.datapath).toEqual({ loop: "epoll", spinUs: 20 });
    expect(parseNodeConfig(f).datapath).toEqual({ loop: "epoll", spinUs: 20, runtime: "v8" });
    const a = configFile(c, { netns: false, loop: { loop: "native", spinUs: 300, runtime: "aot" } });
    expect(parseNodeConfig(a).datapath).toEqual({ loop: "native", spinUs: 300, runtime: "aot" });
  });
  it("--loop aot[:U] is the native loop with the AOT runtime, named -aot", async () => {
    const { parseOptions, loopOf, workersOf } = await import("../bench/e2e/options.ts");
    const o = parseOptions(["--loop", "native,aot,aot:20000", "--workers", "1,2"]);
    if (o === "help") throw new Error("help");
    expect(o.impls).toEqual(["weft", "weft-w2", "weft-aot", "weft-w2-aot", "weft-aot-s20000", "weft-w2-aot-s20000", "kernel-vxlan"]);
    expect(o.impls.map((i) => [workersOf(i), loopOf(i)])).toEqual([
      [1, { loop: "native" }], [2, { loop: "native" }], [1, { loop: "native", runtime: "aot" }], [2, { loop: "native", runtime: "aot" }],
      [1, { loop: "native", spinUs: 20000, runtime: "aot" }], [2, { loop: "native", spinUs: 20000, runtime: "aot" }], [undefined, undefined],
    ]);
    expect(() => parseOptions(["--loop", "aot:2000000"])).toThrow(/--loop/);
  });
  it("--impls adds the c-relay floors by name only", async () => {
    const { parseOptions, workersOf, loopOf } = await import("../bench/e2e/options.ts");
    const o = parseOptions(["--impls", "weft,c-relay,c-relay-poll,kernel-vxlan"]);
    if (o === "help") throw new Error("help");
    expect(o.impls).toEqual(["weft", "kernel-vxlan", "c-relay", "c-relay-poll"]);
    expect(o.impls.slice(2).map((i) => [workersOf(i), loopOf(i)])).toEqual([[undefined, undefined], [undefined, undefined]]);
    expect(() => parseOptions(["--impls", "c-relay-fast"])).toThrow(/--impls: unknown c-relay-fast/);
  });
});

describe("bench:e2e --offloads (options and targets only)", () => {
  it("compares both sides with their default offloads unless --offloads off; single flags force one side on", async () => {
    const { parseOptions } = await import("../bench/e2e/options.ts");
    const pick = (o: ReturnType<typeof parseOptions>) => {
      if (o === "help") throw new Error("help");
      return [o.offloads, o.kernelOffload, o.weftOffload, o.weftUdpOffload];
    };
    expect(pick(parseOptions([]))).toEqual(["on", true, true, true]);
    expect(pick(parseOptions(["--offloads", "off"]))).toEqual(["off", false, false, false]);
    expect(pick(parseOptions(["--offloads", "off", "--weft-offload"]))).toEqual(["off", false, true, false]);
    expect(() => parseOptions(["--offloads", "maybe"])).toThrow(/--offloads must be on or off/);
  });

  it("judges against the offloads targets with offloads on and the batching-only targets without", async () => {
    const { aggregate } = await import("../bench/e2e/report.ts");
    const run = (impl: string, test: string, value: number) => ({ impl, test, round: 1, value, unit: test === "rtt" ? "us" : "Gbit/s", quiet: true });
    const runs = [run("weft", "tcp1", 5), run("kernel-vxlan", "tcp1", 10), run("weft", "tcp4", 9), run("kernel-vxlan", "tcp4", 10),
      run("weft", "rtt", 150), run("kernel-vxlan", "rtt", 100)] as unknown as Parameters<typeof aggregate>[0];
    const on = aggregate(runs, { offloads: "on" }).targets, off = aggregate(runs, { offloads: "off" }).targets;
    expect([on.tcp1?.goal, on.tcp1?.met, on.tcp4?.goal, on.tcp4?.met, on.rtt?.limitUs, on.rtt?.met]).toEqual([0.8, false, 1, false, 30, false]);
    expect([off.tcp1?.goal, off.tcp1?.met, off.tcp4, off.rtt?.limitUs, off.rtt?.met]).toEqual([0.2, true, undefined, 100, true]);
    expect(on.rtt?.requestResponse).toBeUndefined(); // no sockperf figures in these runs
  });

  it("reports the request/response RTT beside the ping's verdict, which it does not change", async () => {
    const { aggregate, render } = await import("../bench/e2e/report.ts");
    const rtt = (impl: string, ping: number, udp: number) => ({ impl, test: "rtt", round: 1, value: ping, unit: "us", quiet: true, extra: { udpRttP50: udp, udpRttP99: udp * 2 } });
    const rep = aggregate([rtt("weft", 330, 180), rtt("kernel-vxlan", 150, 160)] as unknown as Parameters<typeof aggregate>[0], { offloads: "off" });
    expect(rep.targets.rtt).toMatchObject({ deltaUs: 180, met: false, requestResponse: { deltaUs: 20, met: true } });
    const on = aggregate([rtt("weft", 170, 200), rtt("kernel-vxlan", 150, 160)] as unknown as Parameters<typeof aggregate>[0], { offloads: "on" });
    expect(on.targets.rtt).toMatchObject({ deltaUs: 20, met: true, requestResponse: { deltaUs: 40, met: false } });
    const text = render(rep);
    expect(text).toMatch(/MISSED \(\+180 us, limit \+100\)/);
    expect(text).toMatch(/udp request\/response: met \(\+20 us\)/);
  });

  it("reports the pings 0.5 ms apart beside the judged ones, without changing the verdict", async () => {
    const { aggregate, render } = await import("../bench/e2e/report.ts");
    const rtt = (impl: string, ping: number, warm: number) => ({ impl, test: "rtt", round: 1, value: ping, unit: "us", quiet: true, extra: { rttP99: ping * 2, rttWarmP50: warm, rttWarmP99: warm * 3 } });
    const rep = aggregate([rtt("weft", 400, 90), rtt("kernel-vxlan", 150, 30)] as unknown as Parameters<typeof aggregate>[0], { offloads: "off" });
    expect(rep.targets.rtt).toMatchObject({ deltaUs: 250, met: false, warm: { deltaUs: 60, met: true } });
    const worse = aggregate([rtt("weft", 200, 190), rtt("kernel-vxlan", 150, 30)] as unknown as Parameters<typeof aggregate>[0], { offloads: "off" });
    expect(worse.targets.rtt).toMatchObject({ met: true, warm: { deltaUs: 160, met: false } });
    const text = render(rep);
    expect(text).toMatch(/MISSED \(\+250 us, limit \+100\)/);
    expect(text).toMatch(/pings 0\.5 ms apart: met \(\+60 us\)/);
    expect(text).toMatch(/0\.5 ms apart p50\/p99 90\/270/);
    const { parseOptions } = await import("../bench/e2e/options.ts");
    expect((parseOptions([]) as { warmPings: number }).warmPings).toBe(1000);
    expect((parseOptions(["--warm-pings", "0"]) as { warmPings: number }).warmPings).toBe(0);
    expect(() => parseOptions(["--warm-pings", "-1"])).toThrow();
  });
});
