// CPU accounting over a test: the whole machine from /proc/stat (user, system, softirq, idle as %
// of all CPUs), named processes (the routers, % of one CPU), and "foreign" CPU: what processes
// outside the benchmark's namespaces used (kernel threads excluded), the quiet-machine check.
import { readFileSync, readdirSync, readlinkSync, statSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { sleep } from "./procs.ts";

const PF_KTHREAD = 0x00200000;

let clkTck = 0;
function ticksPerSecond(): number {
  if (!clkTck) {
    try { clkTck = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100; } catch { clkTck = 100; }
  }
  return clkTck;
}

interface MachineTicks { usr: number; sys: number; softirq: number; idle: number; steal: number; total: number }

function machineTicks(): MachineTicks {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  return { usr: user + nice, sys: system + irq, softirq, idle: idle + iowait, steal, total: user + nice + system + idle + iowait + irq + softirq + steal };
}

interface ProcTicks { ticks: number; children: number; kthread: boolean; comm: string; netns: number }

function procTicks(pid: number): ProcTicks | undefined {
  let s: string;
  try { s = readFileSync(`/proc/${pid}/stat`, "utf8"); } catch { return undefined; }
  const close = s.lastIndexOf(")");
  const comm = s.slice(s.indexOf("(") + 1, close);
  const rest = s.slice(close + 2).split(" ");
  const flags = Number(rest[6]);
  let netns = 0;
  try { netns = Number(/\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/net`))?.[1] ?? 0); } catch { /* kernel thread or gone */ }
  return { ticks: Number(rest[11]) + Number(rest[12]), children: Number(rest[13]) + Number(rest[14]), kthread: (flags & PF_KTHREAD) !== 0, comm, netns };
}

function allProcs(): Map<number, ProcTicks> {
  const m = new Map<number, ProcTicks>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    const t = procTicks(Number(d));
    if (t) m.set(Number(d), t);
  }
  return m;
}

/** The inode numbers of network namespaces by name (/var/run/netns/NAME); missing ones are skipped. */
export function netnsInodes(names: string[]): Set<number> {
  const s = new Set<number>();
  for (const n of names) { try { s.add(statSync(`/var/run/netns/${n}`).ino); } catch { /* gone */ } }
  return s;
}

export interface CpuUse {
  seconds: number;
  /** % of the whole machine (all CPUs = 100). */
  usr: number; sys: number; softirq: number; idle: number; steal: number;
  /** % of the machine used by processes outside our namespaces (kernel threads excluded), see stop(). */
  foreign: number;
  /** The largest foreign users, "comm pct%". */
  foreignTop: string[];
  /** Named processes (e.g. the routers): % of one CPU. */
  procs: Record<string, number>;
  /** 1-minute load average at the start. */
  load1: number;
}

/** Measures CPU between start() and stop(). `ours`: namespace inodes whose processes are the benchmark's. */
export class CpuWindow {
  private readonly t0 = performance.now();
  private readonly m0 = machineTicks();
  private readonly p0 = allProcs();
  private readonly load1 = Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);

  constructor(private readonly ours: Set<number>, private readonly named: Record<string, number> = {}) {}

  stop(): CpuUse {
    const m1 = machineTicks(), p1 = allProcs();
    const seconds = (performance.now() - this.t0) / 1000;
    const m0 = this.m0;
    const total = Math.max(1, m1.total - m0.total);
    const pct = (a: number, b: number) => (100 * (a - b)) / total;
    // Tick accounting charges every tick, softirq included, to the task it interrupted. So the
    // foreign share is the busy time minus ours (our namespaces' processes, and this process with
    // the tools it reaped) minus kernel threads. Reaped children of other processes are in it,
    // which per-process deltas would miss. What is left over from the idle task's softirq
    // counts as foreign (an overestimate).
    const busy = m1.usr - m0.usr + m1.sys - m0.sys + m1.softirq - m0.softirq;
    let ours = 0, kthreads = 0;
    const byComm = new Map<string, number>();
    for (const [pid, t] of p1) {
      const b = this.p0.get(pid);
      const same = b !== undefined && b.comm === t.comm;
      if (pid === process.pid) { ours += same ? t.ticks + t.children - b.ticks - b.children : 0; continue; }
      const d = same ? t.ticks - b.ticks : t.ticks;
      if (t.kthread) { if (same) kthreads += d; continue; }
      if (this.ours.has(t.netns)) { ours += d; continue; }
      if (d > 0) byComm.set(t.comm, (byComm.get(t.comm) ?? 0) + d);
    }
    const foreign = Math.max(0, busy - ours - kthreads);
    const procs: Record<string, number> = {};
    const hz = ticksPerSecond();
    for (const [name, pid] of Object.entries(this.named)) {
      const a = this.p0.get(pid), b = p1.get(pid);
      if (a && b) procs[name] = round1((100 * (b.ticks - a.ticks)) / hz / seconds);
    }
    const foreignTop = [...byComm].sort((x, y) => y[1] - x[1]).slice(0, 3).map(([c, d]) => `${c} ${round1((100 * d) / total)}%`);
    return {
      seconds: round1(seconds), usr: round1(pct(m1.usr, m0.usr)), sys: round1(pct(m1.sys, m0.sys)), softirq: round1(pct(m1.softirq, m0.softirq)),
      idle: round1(pct(m1.idle, m0.idle)), steal: round1(pct(m1.steal, m0.steal)), foreign: round1((100 * foreign) / total), foreignTop, procs, load1: this.load1,
    };
  }
}

/**
 * Waits until processes outside `ours` use at most `maxPct` % of the machine over a 1 s sample,
 * or `maxWaitS` passed. Returns the last sample's foreign % and the seconds waited.
 */
export async function waitQuiet(ours: Set<number>, maxPct: number, maxWaitS: number, signal?: AbortSignal): Promise<{ foreign: number; waited: number; top: string[] }> {
  const t0 = Date.now();
  for (;;) {
    const w = new CpuWindow(ours);
    await sleep(1000);
    const u = w.stop();
    const waited = Math.round((Date.now() - t0) / 1000);
    if (u.foreign <= maxPct || waited >= maxWaitS || signal?.aborted) return { foreign: u.foreign, waited, top: u.foreignTop };
  }
}

function round1(x: number): number { return Math.round(x * 10) / 10; }
