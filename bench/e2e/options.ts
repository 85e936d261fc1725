// Command line of `npm run bench:e2e`. Every option has a default that reproduces the documented
// run; --quick is the short smoke form (one round, 3 s loads).
import { parseArgs, one, UsageError } from "../../host/cli/args.ts";
import { SPIN_MAX_US } from "../../host/config/node-config.ts";

export const TESTS = ["tcp1", "tcp4", "udp64", "rtt"] as const;
export type TestName = (typeof TESTS)[number];
export const IMPLS = ["weft", "kernel-vxlan", "c-relay", "c-relay-poll"] as const;
/** Measured unless --impls says otherwise (the c-relay floors are asked for by name). */
export const DEFAULT_IMPLS: readonly (typeof IMPLS)[number][] = ["weft", "kernel-vxlan"];
/**
 * "weft" runs the routers as configured by default (workers: 1, datapath.loop: native); "weft-wN"
 * with workers: N (--workers); a suffix "-epoll" (or "-epoll-sU", spin U us) with datapath.loop:
 * epoll, "-libuv" with datapath.loop: libuv (--loop).
 */
export type Impl = (typeof IMPLS)[number] | `weft-w${number}` | `weft${string}-epoll${string}` | `weft${string}-libuv` | `weft${string}-s${number}` | `weft${string}-aot${string}`;

/** The loop of a Weft implementation name (--loop): native, libuv, or epoll with a spin in us. */
export type Loop = { loop: "libuv" } | { loop: "epoll"; spinUs: number } | { loop: "native"; spinUs?: number; runtime?: "aot" };

/** Data-plane workers of a Weft implementation name (1 for "weft"), undefined for the kernel. */
export function workersOf(impl: Impl): number | undefined {
  const m = /^weft(?:-w(\d+))?(?:-aot)?(?:-epoll(?:-s\d+)?|-libuv|-s\d+)?$/.exec(impl);
  return m ? (m[1] ? Number(m[1]) : 1) : undefined;
}

/** The data-path loop of a Weft implementation name; undefined for the kernel. */
export function loopOf(impl: Impl): Loop | undefined {
  if (workersOf(impl) === undefined) return undefined;
  if (impl.endsWith("-libuv")) return { loop: "libuv" };
  const m = /-epoll(?:-s(\d+))?$/.exec(impl);
  if (m) return { loop: "epoll", spinUs: m[1] ? Number(m[1]) : 0 };
  const s = /-s(\d+)$/.exec(impl);
  const aot = /-aot(?:-s\d+)?$/.test(impl) ? { runtime: "aot" as const } : {};
  return s ? { loop: "native", spinUs: Number(s[1]), ...aot } : { loop: "native", ...aot };
}

function implName(workers: number, l: Loop): Impl {
  const base = workers === 1 ? "weft" : `weft-w${workers}`;
  if (l.loop === "native") return `${base}${l.runtime === "aot" ? "-aot" : ""}${l.spinUs ? `-s${l.spinUs}` : ""}` as Impl;
  return (l.loop === "libuv" ? `${base}-libuv` : `${base}-epoll${l.spinUs ? `-s${l.spinUs}` : ""}`) as Impl;
}

export interface Options {
  rounds: number;
  /** Seconds per throughput test (iperf3 -t). */
  time: number;
  tests: TestName[];
  impls: Impl[];
  json?: string;
  /** Parallel iperf3 UDP senders (each with its own server) in the 64-byte test. */
  udpSenders: number;
  /** Client-node pods the UDP senders take turns over: 1 = all in n1p1, 2 = n1p1, n1p2, n1p1, ... */
  udpPods: number;
  /** UDP payload bytes: 18 = 64-byte Ethernet frame (14 + 20 + 8 + 18 + 4 FCS); 64 = the anchor's payload. */
  udpLen: number;
  pings: number;
  /** Seconds between pings. */
  pingInterval: number;
  /** Pings 0.5 ms apart after the judged ones, reported beside them (0: off). */
  warmPings: number;
  /** Seconds of sockperf UDP ping-pong after the pings (0: off; skipped when sockperf is missing). */
  sockperfTime: number;
  /** Seconds of TCP warm-up after a topology is built (both implementations alike). */
  warmup: number;
  /** Seconds of pause between tests. */
  settle: number;
  /** Quiet-machine gate: CPU % of the machine used by processes outside our namespaces. */
  foreignMax: number;
  /** Seconds to wait for the machine to become quiet before each test (0: do not wait). */
  quietWait: number;
  /** Extra attempts of a test that ran while the machine was busy. */
  retries: number;
  /** Write V8 CPU profiles of the router processes (node --cpu-prof) into this directory. */
  profile?: string;
  /** Keep the router configs and logs (printed at the end). */
  keepLogs: boolean;
  /**
   * Kernel side: turn tx checksum offload back on on the nodes' underlay veth (Cluster turns it off
   * for interoperability with Weft), so the kernel keeps GSO super-packets through the underlay
   * as in the kernel anchor. Off by default: the kernel side is Cluster's flannel node as built.
   */
  kernelOffload: boolean;
  /**
   * --offloads on (default): both sides as they come by default — the kernel with its offloads
   * (underlay tx checksum on), Weft with the router's default offloads (tun, udpGso, udpGro) —
   * and the offloads issue's targets. off: the kernel's underlay tx checksum off and Weft's
   * offloads off (the batching-only stage and its targets). The single flags below force one on.
   */
  offloads: "on" | "off";
  /** Weft side: offloads.tun on in the router configs (docs/OFFLOADS.md). Off by default (the stage's targets are without offloads). */
  weftOffload: boolean;
  /** Weft side: offloads.udpGso + udpGro on (UDP_SEGMENT sends, UDP_GRO receives on the underlay). Off by default. */
  weftUdpOffload: boolean;
  /** Weft side: the worker counts measured, each its own implementation (weft, weft-w2, ...). */
  workers: number[];
  loops: Loop[];
}

export const usage = `npm run bench:e2e -- [options]

Weft vs the kernel's VXLAN, pod -> pod across two nodes (namespaces), interleaved rounds.

  --rounds N         interleaved rounds (Weft, kernel, Weft, ...), medians reported (3)
  --time S           seconds per iperf3 test (10)
  --quick            1 round, 3 s tests, 100 pings, 2 s sockperf, no quiet wait beyond 10 s
  --tests LIST       tcp1,tcp4,udp64,rtt (all)
  --impls LIST       weft,kernel-vxlan (default: both; ratios need both), and the floors c-relay
                     (a minimal C relay per node, TUN <-> UDP, one packet per syscall, sleeping in
                     epoll_wait: what any user-space router on TUN/TAP and UDP sockets pays here)
                     and c-relay-poll (the same relay polling, never sleeping); built with cc
  --json FILE        write {"results":[...],"ratios":{...},...}
  --udp-senders N    parallel iperf3 UDP senders, one server each (2)
  --udp-pods N       spread the UDP senders over N pods of the client node (1 or 2; default 2)
  --udp-len B        UDP payload bytes (18 = 64-byte frames; 64 = the kernel anchor's payload)
  --pings N          pings at --ping-interval (200 at 0.01 s)
  --warm-pings N     then N pings 0.5 ms apart, reported beside the judged ones: the same path
                     kept warm, without this VM's cost of running a path idle for 10 ms cold
                     (1000; 0 = off)
  --sockperf S       seconds of sockperf UDP ping-pong in the rtt test (5; 0 = off)
  --warmup S         TCP warm-up after building each topology (1)
  --settle S         pause between tests (1)
  --foreign-max PCT  a test counts as quiet when other processes used <= PCT % of the machine (5)
  --quiet-wait S     wait up to S seconds for a quiet machine before each test (120)
  --retries N        rerun a test up to N times when it was not quiet (2)
  --profile DIR      run the routers with node --cpu-prof --cpu-prof-dir DIR
  --keep-logs        keep router configs and logs
  --offloads on|off  on (default): kernel VXLAN with its default offloads vs Weft with its default
                     offloads (tun, udpGso, udpGro) and the offloads targets (TCP1 >= 0.80, TCP4 >=
                     1.00, UDP64 >= 0.50, RTT p50 <= kernel + 30 us); off: both without offloads
                     (kernel underlay tx csum off, Weft offloads off) and the batching-only targets
                     (TCP1 >= 0.20, UDP64 >= 0.50, RTT <= kernel + 100 us)
  --kernel-offload   kernel side: tx checksum offload back on on the underlay veth (as in the
                     kernel anchor; GSO super-packets stay whole to the far node)
  --weft-offload     Weft side: offloads.tun on (TAP vnet headers, TSO split, GRO coalescing)
  --weft-udp-offload Weft side: offloads.udpGso and udpGro on (underlay UDP_SEGMENT / UDP_GRO)
  --workers LIST     Weft side: data-plane worker counts, each measured as its own implementation
                     in the same interleaved rounds: 1 = "weft", N = "weft-wN" (default 1)
  --loop LIST        Weft side: data-path loops, each (x each worker count) its own implementation:
                     native (default: the wait and the port I/O in one native call, the batch in
                     one Wasm call, in worker threads), native:U (the same, polling U us and
                     yielding before each sleep, "-sU"; U up to 1000000: native:20000 polls
                     while the pings of the RTT test keep coming), aot and aot:U (the native loop
                     with datapath.runtime aot: the data plane compiled ahead of time, no JS per
                     batch, docs/AOT.md; "-aot", "-aot-sU"), epoll (blocking epoll_wait in worker
                     threads, the batch in JS, "-epoll"), epoll:U (the same, polling U us before
                     blocking, "-epoll-sU"), libuv (uv_poll, one event-loop turn per wake-up, "-libuv")`;

function num(a: ReturnType<typeof parseArgs>, name: string, def: number, min: number, max: number): number {
  const v = one(a, name, false);
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name} must be a number in ${min}..${max}, not ${v}`);
  return n;
}

function list<T extends string>(a: ReturnType<typeof parseArgs>, name: string, all: readonly T[], def: readonly T[] = all): T[] {
  const v = one(a, name, false);
  if (v === undefined) return [...def];
  const got = v.split(",").map((s) => s.trim()).filter(Boolean);
  for (const g of got) if (!all.includes(g as T)) throw new UsageError(`--${name}: unknown ${g} (known: ${all.join(", ")})`);
  return all.filter((x) => got.includes(x));
}

function loopList(v: string | undefined): Loop[] {
  if (v === undefined) return [{ loop: "native" }];
  const out: Loop[] = [];
  for (const s of v.split(",").map((x) => x.trim()).filter(Boolean)) {
    const nm = /^(native|aot)(?::(\d+))?$/.exec(s);
    if (nm) {
      if (Number(nm[2] ?? 0) > SPIN_MAX_US.native) throw new UsageError(`--loop: ${s}: the spin is at most ${SPIN_MAX_US.native} us`);
      const aot = nm[1] === "aot" ? { runtime: "aot" as const } : {};
      out.push(nm[2] && Number(nm[2]) > 0 ? { loop: "native", spinUs: Number(nm[2]), ...aot } : { loop: "native", ...aot });
      continue;
    }
    const m = /^(libuv|epoll)(?::(\d+))?$/.exec(s);
    if (!m || (m[1] === "libuv" && m[2] !== undefined) || Number(m[2] ?? 0) > SPIN_MAX_US.epoll) throw new UsageError(`--loop: ${s} is not libuv, epoll, epoll:U (U in 0..${SPIN_MAX_US.epoll} us), native, native:U, aot or aot:U (U in 0..${SPIN_MAX_US.native} us)`);
    out.push(m[1] === "libuv" ? { loop: "libuv" } : { loop: "epoll", spinUs: Number(m[2] ?? 0) });
  }
  if (out.length === 0) throw new UsageError("--loop selects nothing");
  return out;
}

function workerList(v: string | undefined): number[] {
  if (v === undefined) return [1];
  const got = v.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  if (got.length === 0 || got.some((n) => !Number.isInteger(n) || n < 1 || n > 64)) throw new UsageError(`--workers must list integers in 1..64, not ${v}`);
  return [...new Set(got)];
}

export function parseOptions(argv: string[]): Options | "help" {
  const a = parseArgs(argv, ["quick", "keep-logs", "kernel-offload", "weft-offload", "weft-udp-offload", "help", "h"]);
  if (a.flags.has("help") || a.flags.has("h")) return "help";
  if (a.positional.length) throw new UsageError(`unexpected argument ${a.positional[0]}`);
  const quick = a.flags.has("quick");
  const impls = list(a, "impls", IMPLS, DEFAULT_IMPLS);
  const offloads = one(a, "offloads", false) ?? "on";
  if (offloads !== "on" && offloads !== "off") throw new UsageError(`--offloads must be on or off, not ${offloads}`);
  const o: Options = {
    rounds: num(a, "rounds", quick ? 1 : 3, 1, 50),
    time: num(a, "time", quick ? 3 : 10, 1, 120),
    tests: list(a, "tests", TESTS),
    impls: impls.map((x) => x) as Impl[],
    json: one(a, "json", false),
    udpSenders: num(a, "udp-senders", 2, 1, 8),
    udpLen: num(a, "udp-len", 18, 16, 1400),
    udpPods: num(a, "udp-pods", 2, 1, 2),
    pings: num(a, "pings", quick ? 100 : 200, 5, 10_000),
    pingInterval: num(a, "ping-interval", 0.01, 0.002, 1),
    warmPings: num(a, "warm-pings", quick ? 300 : 1000, 0, 20_000),
    sockperfTime: num(a, "sockperf", quick ? 2 : 5, 0, 60),
    warmup: num(a, "warmup", 1, 0, 30),
    settle: num(a, "settle", 1, 0, 60),
    foreignMax: num(a, "foreign-max", 5, 0, 100),
    quietWait: num(a, "quiet-wait", quick ? 10 : 120, 0, 3600),
    retries: num(a, "retries", quick ? 0 : 2, 0, 10),
    profile: one(a, "profile", false),
    keepLogs: a.flags.has("keep-logs"),
    offloads,
    kernelOffload: offloads === "on" || a.flags.has("kernel-offload"),
    weftOffload: offloads === "on" || a.flags.has("weft-offload"),
    weftUdpOffload: offloads === "on" || a.flags.has("weft-udp-offload"),
    workers: workerList(one(a, "workers", false)),
    loops: loopList(one(a, "loop", false)),
  };
  // each (loop, worker count) is its own Weft implementation, in place of "weft"
  o.impls = impls.flatMap((i) => (i === "weft" ? o.loops.flatMap((l) => o.workers.map((n) => implName(n, l))) : [i]));
  o.impls = [...new Set(o.impls)];
  if (o.tests.length === 0) throw new UsageError("--tests selects nothing");
  if (o.impls.length === 0) throw new UsageError("--impls selects nothing");
  return o;
}
