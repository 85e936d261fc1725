// Aggregation (medians over rounds), the printed tables and the JSON document of bench:e2e.
import type { CpuUse } from "./cpu.ts";
import type { Impl, TestName } from "./options.ts";
import { TESTS } from "./options.ts";
import { median, round } from "./stats.ts";

/** One measurement: one implementation, one test, one round (the accepted attempt). */
export interface RunRecord {
  round: number;
  impl: Impl;
  test: TestName;
  value?: number;
  unit?: string;
  extra?: Record<string, number>;
  cpu?: CpuUse;
  /** Attempts made (1 + reruns because the machine was busy). */
  attempts: number;
  /** Other processes used at most --foreign-max % of the machine during the accepted attempt. */
  quiet: boolean;
  error?: string;
  /** Errors of failed attempts (also when a later attempt succeeded). */
  failures?: string[];
}

export interface Result {
  impl: Impl;
  test: TestName;
  /** Median over the rounds. */
  value: number;
  unit: string;
  min: number;
  max: number;
  rounds: number[];
  /** Medians of the secondary figures. */
  [extra: string]: unknown;
}

export interface Target {
  rule: string; met: boolean; ratio?: number; goal?: number; deltaUs?: number; limitUs?: number; shortBy?: string;
  /**
   * RTT only: the same limit applied to the UDP request/response round trip (sockperf ping-pong,
   * back to back) where both sides have it. The verdict (`met`) is the ping's (200 echoes 10 ms
   * apart: every echo finds the routers asleep); this one is reported beside it, not instead.
   */
  requestResponse?: { rule: string; deltaUs: number; met: boolean };
  /**
   * RTT only: the same limit applied to pings 0.5 ms apart (--warm-pings), where both sides have
   * them: the same path without this VM's cost of running a path that idled 10 ms cold (the
   * kernel's own echo takes ~5x longer then). Reported beside the verdict, not instead of it.
   */
  warm?: { rule: string; deltaUs: number; met: boolean };
}

/** Targets per --offloads: the offloads issue's with offloads on, the batching-only stage's without. */
export const TARGETS = {
  on: { shares: { tcp1: 0.8, tcp4: 1.0, udp64: 0.5 }, rttLimitUs: 30 },
  off: { shares: { tcp1: 0.2, udp64: 0.5 }, rttLimitUs: 100 },
} as const satisfies Record<string, { shares: Partial<Record<TestName, number>>; rttLimitUs: number }>;

export interface Report {
  results: Result[];
  ratios: Partial<Record<TestName, number>>;
  /** Every implementation's ratio to the kernel (weft, weft-w2, ..., the c-relay floors), measured in the same rounds. */
  ratiosByImpl: Record<string, Partial<Record<TestName, number>>>;
  /** Every implementation's ping p50 minus the kernel's, in us (the RTT targets' measure). */
  rttOverKernelUs: Record<string, number>;
  targets: Partial<Record<TestName, Target>>;
  meta: Record<string, unknown>;
  runs: RunRecord[];
}

function medianOf(records: RunRecord[], get: (r: RunRecord) => number | undefined): number | undefined {
  const v = records.map(get).filter((x): x is number => typeof x === "number" && Number.isFinite(x));
  return v.length ? median(v) : undefined;
}

/** The implementations in `runs`: weft, weft-wN (by N; loops in run order), the c-relay floors, then the kernel. */
function implsOf(runs: { impl: Impl }[]): Impl[] {
  const seen = [...new Set(runs.map((r) => r.impl))];
  const rank = (i: Impl) => (i === "kernel-vxlan" ? 1e9 : i.startsWith("c-relay") ? 1e8 : Number(/^weft-w(\d+)/.exec(i)?.[1] ?? 1));
  return seen.sort((a, b) => rank(a) - rank(b) || seen.indexOf(a) - seen.indexOf(b));
}

export function aggregate(runs: RunRecord[], meta: Record<string, unknown>): Report {
  const results: Result[] = [];
  for (const test of TESTS) {
    for (const impl of implsOf(runs)) {
      const ok = runs.filter((r) => r.impl === impl && r.test === test && r.value !== undefined);
      if (ok.length === 0) continue;
      const values = ok.map((r) => r.value!);
      const res: Result = { impl, test, value: digits(median(values)), unit: ok[0]!.unit!, min: digits(Math.min(...values)), max: digits(Math.max(...values)), rounds: values };
      const keys = new Set(ok.flatMap((r) => Object.keys(r.extra ?? {})));
      for (const k of keys) {
        const m = medianOf(ok, (r) => r.extra?.[k]);
        if (m !== undefined) res[k] = digits(m);
      }
      const cpu: Record<string, number> = {};
      for (const k of ["usr", "sys", "softirq", "idle", "foreign"] as const) {
        const m = medianOf(ok, (r) => r.cpu?.[k]);
        if (m !== undefined) cpu[k] = round(m, 1);
      }
      const procNames = new Set(ok.flatMap((r) => Object.keys(r.cpu?.procs ?? {})));
      for (const p of procNames) {
        const m = medianOf(ok, (r) => r.cpu?.procs[p]);
        if (m !== undefined) cpu[p] = round(m, 1);
      }
      res.cpu = cpu;
      res.quiet = ok.every((r) => r.quiet);
      res.maxForeignPct = Math.max(...ok.map((r) => r.cpu?.foreign ?? 0));
      res.maxLoad1 = Math.max(...ok.map((r) => r.cpu?.load1 ?? 0));
      results.push(res);
    }
  }
  const ratios: Report["ratios"] = {};
  const targets: Report["targets"] = {};
  const get = (impl: Impl, test: TestName) => results.find((r) => r.impl === impl && r.test === test);
  const tg = TARGETS[meta.offloads === "off" ? "off" : "on"];
  for (const test of TESTS) {
    const w = get("weft", test), k = get("kernel-vxlan", test);
    if (!w || !k || !k.value) continue;
    const ratio = round(w.value / k.value, 3);
    ratios[test] = ratio;
    const goal = (tg.shares as Partial<Record<TestName, number>>)[test];
    if (goal !== undefined) targets[test] = share(ratio, goal, `weft ${test === "udp64" ? "received " : ""}>= ${Math.round(goal * 100)} % of kernel VXLAN${test === "udp64" ? ", same generator" : ""}`);
    if (test === "rtt") {
      const delta = round(w.value - k.value, 1), lim = tg.rttLimitUs;
      targets.rtt = { rule: `weft ping p50 <= kernel ping p50 + ${lim} us`, deltaUs: delta, limitUs: lim, met: delta <= lim, ...(delta > lim ? { shortBy: `${round(delta - lim, 1)} us over` } : {}) };
      const wu = w.udpRttP50, ku = k.udpRttP50;
      if (typeof wu === "number" && typeof ku === "number") {
        const d = round(wu - ku, 1);
        targets.rtt.requestResponse = { rule: `weft UDP request/response p50 <= kernel's + ${lim} us`, deltaUs: d, met: d <= lim };
      }
      const ww = w.rttWarmP50, kw = k.rttWarmP50;
      if (typeof ww === "number" && typeof kw === "number") {
        const d = round(ww - kw, 1);
        targets.rtt.warm = { rule: `weft ping p50 0.5 ms apart <= kernel's + ${lim} us`, deltaUs: d, met: d <= lim };
      }
    }
  }
  const ratiosByImpl: Report["ratiosByImpl"] = {};
  const rttOverKernelUs: Report["rttOverKernelUs"] = {};
  for (const impl of implsOf(results).filter((i) => i !== "kernel-vxlan")) {
    for (const test of TESTS) {
      const w = get(impl, test), k = get("kernel-vxlan", test);
      if (w && k && k.value) (ratiosByImpl[impl] ??= {})[test] = round(w.value / k.value, 3);
      if (test === "rtt" && w && k) rttOverKernelUs[impl] = round(w.value - k.value, 1);
    }
  }
  return { results, ratios, ratiosByImpl, rttOverKernelUs, targets, meta, runs };
}

function share(ratio: number, goal: number, rule: string): Target {
  return { rule, ratio, goal, met: ratio >= goal, ...(ratio < goal ? { shortBy: `${round(100 * (goal - ratio), 1)} points (${round(100 * (1 - ratio / goal), 1)} % below the target)` } : {}) };
}

function digits(x: number): number { return Math.abs(x) >= 100 ? Math.round(x) : round(x, 3); }

// ---- printing --------------------------------------------------------------------------------

function fmt(x: number | undefined, unit: string): string {
  if (x === undefined || !Number.isFinite(x)) return "-";
  if (unit === "pps") return `${(x / 1000).toFixed(0)}k`;
  if (unit === "Gbit/s") return x.toFixed(2);
  return x.toFixed(0);
}

function table(rows: string[][]): string {
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return rows.map((r) => r.map((x, c) => (c === 0 ? x.padEnd(w[c]!) : x.padStart(w[c]!))).join("   ")).join("\n");
}

export function render(rep: Report): string {
  const out: string[] = [];
  const impls = implsOf(rep.results);
  const head = ["test", ...impls.map((i) => `${i} median (min-max)`), "weft/kernel", "target"];
  const rows: string[][] = [head];
  for (const test of TESTS) {
    const cells = impls.map((impl) => {
      const r = rep.results.find((x) => x.impl === impl && x.test === test);
      if (!r) return "-";
      const unit = r.unit === "us" ? "us p50" : r.unit;
      let s = `${fmt(r.value, r.unit)} (${fmt(r.min, r.unit)}-${fmt(r.max, r.unit)}) ${unit}`;
      if (test === "udp64") s += `, sent ${fmt(r.sentPps as number, "pps")}`;
      if (test === "rtt") {
        s += `, p99 ${fmt(r.rttP99 as number, "us")}`;
        if (r.rttWarmP50 !== undefined) s += `; 0.5 ms apart p50/p99 ${fmt(r.rttWarmP50 as number, "us")}/${fmt(r.rttWarmP99 as number, "us")}`;
        if (r.udpRttP50 !== undefined) s += `; udp p50/p99 ${fmt(r.udpRttP50 as number, "us")}/${fmt(r.udpRttP99 as number, "us")}`;
      }
      if (!r.quiet) s += " *";
      return s;
    });
    if (cells.every((c) => c === "-")) continue;
    const ratio = rep.ratios[test];
    const tg = rep.targets[test];
    const tgt = tg ? `${tg.met ? "met" : "MISSED"} (${test === "rtt" ? `${tg.deltaUs! >= 0 ? "+" : ""}${tg.deltaUs} us, limit +${tg.limitUs}` : `limit ${tg.goal!.toFixed(2)}`})` : "";
    rows.push([test, ...cells, ratio === undefined ? "-" : ratio.toFixed(3), tgt]);
    const rr = tg?.requestResponse;
    if (rr) rows.push(["", ...impls.map(() => ""), "", `udp request/response: ${rr.met ? "met" : "MISSED"} (${rr.deltaUs >= 0 ? "+" : ""}${rr.deltaUs} us)`]);
    const wm = tg?.warm;
    if (wm) rows.push(["", ...impls.map(() => ""), "", `pings 0.5 ms apart: ${wm.met ? "met" : "MISSED"} (${wm.deltaUs >= 0 ? "+" : ""}${wm.deltaUs} us)`]);
  }
  out.push(table(rows));
  const multi = Object.entries(rep.ratiosByImpl ?? {}).filter(([i]) => i !== "weft");
  if (multi.length) {
    out.push("", "ratios to the kernel, per implementation (same rounds):");
    for (const [impl, r] of [...(rep.ratiosByImpl.weft ? [["weft", rep.ratiosByImpl.weft] as const] : []), ...multi]) {
      out.push(`  ${impl.padEnd(14)} ${TESTS.map((t) => `${t} ${r[t]?.toFixed(3) ?? "-"}`).join("  ")}`);
    }
  }
  const over = Object.entries(rep.rttOverKernelUs ?? {});
  if (over.length > 1 || over.some(([i]) => i.startsWith("c-relay"))) {
    out.push("", `ping p50 over the kernel's: ${over.map(([i, d]) => `${i} ${d >= 0 ? "+" : ""}${d} us`).join(", ")}${over.some(([i]) => i.startsWith("c-relay")) ? " (c-relay: the floor of a user-space relay on TUN and UDP sockets here)" : ""}`);
  }
  if (rep.results.some((r) => !r.quiet)) out.push("* at least one round ran while other processes used more than --foreign-max of the machine");

  const cpuRows: string[][] = [["impl / test", "usr %", "sys %", "softirq %", "idle %", "foreign % (max)", "routers (% of one CPU)", "extra"]];
  for (const r of rep.results) {
    const c = r.cpu as Record<string, number>;
    const routers = Object.entries(c).filter(([k]) => k.startsWith("router ")).map(([k, v]) => `${k.slice(7)} ${v}`).join(", ");
    const ex: string[] = [];
    if (r.test === "udp64") ex.push(`loss ${r.lossPct}%`, `rcvbuf drops ${r.rcvbufErrors}`, `server pod rx ${fmt(r.serverPodRxPps as number, "pps")}pps`);
    if (r.test.startsWith("tcp")) ex.push(`retrans ${r.retransmits}`, ...(r.routerCoresPerGbit !== undefined ? [`router CPU ${r.routerCoresPerGbit} cores per Gbit/s`] : []));
    for (const n of ["n1", "n2"]) if (r[`${n}.avgBatch`] !== undefined) ex.push(`${n} batch ${r[`${n}.avgBatch`]}${r[`${n}.txDropped`] ? ` txDrop ${r[`${n}.txDropped`]}` : ""}${r[`${n}.drops`] ? ` drops ${r[`${n}.drops`]}` : ""}`);
    cpuRows.push([`${r.impl} ${r.test}`, String(c.usr ?? "-"), String(c.sys ?? "-"), String(c.softirq ?? "-"), String(c.idle ?? "-"), `${c.foreign ?? "-"} (${r.maxForeignPct})`, routers || "-", ex.join(", ")]);
  }
  out.push("", "CPU (whole machine, medians; routers: % of one CPU) and extras", table(cpuRows));
  const failed = rep.runs.filter((r) => r.error);
  if (failed.length) out.push("", `failed: ${failed.map((r) => `round ${r.round} ${r.impl} ${r.test}: ${r.error}`).join("; ")}`);
  const retried = rep.runs.filter((r) => !r.error && r.failures?.length);
  if (retried.length) out.push("", `failed attempts (a later attempt counted): ${retried.map((r) => `round ${r.round} ${r.impl} ${r.test}: ${r.failures!.join(" / ")}`).join("; ")}`);
  return out.join("\n");
}
