// The four measurements, run the same way for both implementations (the kernel anchor's method,
// reference/kernel-baseline.md): iperf3 server in the server pod (one-off, `timeout`-bounded),
// client in the client pod on the other node.
//   tcp1 / tcp4  iperf3 -t T [-P 4]; Gbit/s = end.sum_received.bits_per_second
//   udp64        N iperf3 clients -u -l LEN -b 0 in parallel (spread over the client node's
//                pods), one server each in the server pod; received pps =
//                sum of (packets - lost) / seconds at the servers; sent pps beside it
//   rtt          ping -c N -i I, per-reply times -> p50/p99 (µs); then pings 0.5 ms apart (the
//                same path kept warm: on this VM a path idle for 10 ms runs cold, the kernel's
//                own included); then sockperf UDP ping-pong (--full-rtt) p50/p99 when installed
import type { ChildProcess } from "node:child_process";
import type { Topology } from "./topology.ts";
import { ProcessTable, sleep, waitExit } from "./procs.ts";
import { percentile, round } from "./stats.ts";

export interface Sample {
  value: number;
  unit: string;
  /** Secondary figures (sent pps, p99, retransmits, ...), numbers only. */
  extra: Record<string, number>;
}

const IPERF_PORT = 5201;
const SOCKPERF_PORT = 11111;

/** Waits until something listens on `port` (tcp or udp) in `ns`; throws after `timeoutMs`. */
async function waitListening(procs: ProcessTable, ns: string, proto: "tcp" | "udp", port: number, server: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server.exitCode !== null || server.signalCode !== null) throw new Error(`server on ${proto}/${port} in ${ns} exited (${server.exitCode ?? server.signalCode})`);
    const r = await procs.run(["ip", "netns", "exec", ns, "ss", "-Hn", proto === "tcp" ? "-lt" : "-lu", "sport", "=", `:${port}`], 5000);
    if (r.code === 0 && r.stdout.trim() !== "") return;
    await sleep(50);
  }
  throw new Error(`nothing listens on ${proto}/${port} in ${ns} after ${timeoutMs} ms`);
}

async function startIperfServer(procs: ProcessTable, t: Topology, port: number, boundS: number): Promise<ChildProcess> {
  const s = procs.spawn(["ip", "netns", "exec", t.server.ns, "timeout", String(boundS), "iperf3", "-s", "-1", "-p", String(port), "-B", t.server.ipv4], ["ignore", "ignore", "pipe"]);
  s.stderr!.resume();
  await waitListening(procs, t.server.ns, "tcp", port, s);
  return s;
}

async function reap(servers: ChildProcess[]): Promise<void> {
  for (const s of servers) {
    if ((await waitExit(s, 5000)) === "timeout") { s.kill("SIGTERM"); await waitExit(s, 3000); }
  }
}

interface IperfJson { error?: string; end?: Record<string, Record<string, number> | undefined> & { cpu_utilization_percent?: Record<string, number> } }

async function iperfClient(procs: ProcessTable, t: Topology, port: number, args: string[], timeS: number, clientNs = t.client.ns): Promise<IperfJson> {
  const bound = timeS + 20;
  const r = await procs.run(["ip", "netns", "exec", clientNs, "timeout", String(bound), "iperf3", "-c", t.server.ipv4, "-p", String(port), "-t", String(timeS), "-J", ...args], (bound + 5) * 1000);
  let j: IperfJson;
  try { j = JSON.parse(r.stdout) as IperfJson; } catch { throw new Error(`iperf3 ${args.join(" ")}: exit ${r.code ?? r.signal}, no JSON: ${r.stderr.slice(0, 400)}`); }
  if (j.error || !j.end) throw new Error(`iperf3 ${args.join(" ")}: ${j.error ?? "no end section"}`);
  return j;
}

export async function tcp(procs: ProcessTable, t: Topology, streams: number, timeS: number): Promise<Sample> {
  const server = await startIperfServer(procs, t, IPERF_PORT, timeS + 30);
  try {
    const j = await iperfClient(procs, t, IPERF_PORT, streams > 1 ? ["-P", String(streams)] : [], timeS);
    const rcv = j.end!.sum_received!, snd = j.end!.sum_sent!;
    const cpu = j.end!.cpu_utilization_percent ?? {};
    return {
      value: round(rcv.bits_per_second! / 1e9, 3), unit: "Gbit/s",
      extra: { retransmits: snd.retransmits ?? 0, senderCpu: round(cpu.host_total ?? 0, 1), receiverCpu: round(cpu.remote_total ?? 0, 1) },
    };
  } finally {
    await reap([server]);
  }
}

/** Counters of a pod: UDP MIB (receive buffer drops) and its eth0 packet counters. */
async function podCounters(procs: ProcessTable, ns: string): Promise<Record<string, number>> {
  const r = await procs.run(["ip", "netns", "exec", ns, "sh", "-c",
    "cat /proc/net/snmp; for f in rx_packets rx_dropped tx_packets tx_dropped; do echo \"eth0 $f $(cat /sys/class/net/eth0/statistics/$f)\"; done"], 5000);
  const out: Record<string, number> = {};
  const lines = r.stdout.split("\n");
  for (let i = 0; i + 1 < lines.length; i++) {
    if (lines[i]!.startsWith("Udp: ") && lines[i + 1]!.startsWith("Udp: ")) {
      const k = lines[i]!.split(/\s+/).slice(1), v = lines[i + 1]!.split(/\s+/).slice(1).map(Number);
      k.forEach((name, j) => { out[`udp.${name}`] = v[j]!; });
      break;
    }
  }
  for (const l of lines) {
    const m = /^eth0 (\w+) (\d+)$/.exec(l);
    if (m) out[`eth0.${m[1]}`] = Number(m[2]);
  }
  return out;
}

/**
 * Parallel UDP senders take turns over the pods of the client's node (n1p1, n1p2, n1p1, ...), each
 * with its own server port in the server pod. Why not all in n1p1: a pod's TAP queue drops what
 * the router has not read yet, whatever it is, so a second sender's one-shot UDP handshake (and
 * the control messages) behind a running flood in the same pod can be lost, and that iperf3
 * client then fails after its 30 s receive timeout. For the kernel the spread changes nothing
 * (both pods hang off the same bridge); both implementations get the same generator.
 */
export async function udp64(procs: ProcessTable, t: Topology, senders: number, len: number, timeS: number, pods = 2): Promise<Sample> {
  const ports = Array.from({ length: senders }, (_, i) => IPERF_PORT + i);
  const spread = t.clientNodePods.slice(0, Math.max(1, pods));
  const from = ports.map((_, i) => spread[i % spread.length]!.ns);
  const sendPods = [...new Set(from)];
  const servers: ChildProcess[] = [];
  try {
    for (const p of ports) servers.push(await startIperfServer(procs, t, p, timeS + 30));
    const rx0 = await podCounters(procs, t.server.ns), tx0 = await Promise.all(sendPods.map((ns) => podCounters(procs, ns)));
    const results = await Promise.all(ports.map((p, i) => iperfClient(procs, t, p, ["-u", "-l", String(len), "-b", "0"], timeS, from[i])));
    const rx1 = await podCounters(procs, t.server.ns), tx1 = await Promise.all(sendPods.map((ns) => podCounters(procs, ns)));
    let recv = 0, sent = 0, recvPkts = 0, sentPkts = 0, secs = 0;
    for (const j of results) {
      const r = j.end!.sum_received!, s = j.end!.sum_sent!;
      recv += (r.packets! - r.lost_packets!) / r.seconds!;
      sent += s.packets! / s.seconds!;
      recvPkts += r.packets! - r.lost_packets!;
      sentPkts += s.packets!;
      secs = Math.max(secs, r.seconds!);
    }
    const d = (a: Record<string, number>, b: Record<string, number>, k: string) => (b[k] ?? 0) - (a[k] ?? 0);
    return {
      value: Math.round(recv), unit: "pps",
      extra: {
        sentPps: Math.round(sent), lossPct: round(sentPkts ? (100 * (sentPkts - recvPkts)) / sentPkts : 0, 1),
        // Where the lost packets went: the receiving socket was full, or the sending pod's
        // interface dropped them (a TAP whose queue the router did not drain in time).
        rcvbufErrors: d(rx0, rx1, "udp.RcvbufErrors"),
        serverPodRxPps: Math.round(d(rx0, rx1, "eth0.rx_packets") / (secs || timeS)),
        clientPodTxDropped: sendPods.reduce((sum, _, i) => sum + d(tx0[i]!, tx1[i]!, "eth0.tx_dropped"), 0),
        senders, senderPods: sendPods.length, payloadBytes: len,
      },
    };
  } finally {
    await reap(servers);
  }
}

/** Seconds between the warm series' pings (root may ping faster than every 2 ms). */
export const WARM_PING_INTERVAL_S = 0.0005;

/** `pings` echoes `intervalS` apart from the client pod to the server pod: the per-reply times in µs. */
async function pingTimes(procs: ProcessTable, t: Topology, pings: number, intervalS: number): Promise<number[]> {
  const bound = Math.ceil(pings * intervalS + 10);
  const r = await procs.run(["ip", "netns", "exec", t.client.ns, "timeout", String(bound), "ping", "-4", "-n", "-c", String(pings), "-i", String(intervalS), "-W", "1", t.server.ipv4], (bound + 5) * 1000);
  const times = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]) * 1000);
  if (times.length === 0) throw new Error(`ping: no replies (exit ${r.code}): ${r.stdout.slice(-300)}${r.stderr}`);
  return times;
}

export async function rtt(procs: ProcessTable, t: Topology, pings: number, intervalS: number, warmPings: number, sockperfS: number, haveSockperf: boolean): Promise<Sample> {
  const times = await pingTimes(procs, t, pings, intervalS);
  const extra: Record<string, number> = {
    rttP99: round(percentile(times, 99), 1), rttMin: round(Math.min(...times), 1),
    rttMean: round(times.reduce((a, b) => a + b, 0) / times.length, 1), pingLost: pings - times.length,
  };
  if (warmPings > 0) {
    const warm = await pingTimes(procs, t, warmPings, WARM_PING_INTERVAL_S);
    Object.assign(extra, { rttWarmP50: round(percentile(warm, 50), 1), rttWarmP99: round(percentile(warm, 99), 1), warmPingLost: warmPings - warm.length });
  }
  if (haveSockperf && sockperfS > 0) Object.assign(extra, await sockperf(procs, t, sockperfS));
  return { value: round(percentile(times, 50), 1), unit: "us", extra };
}

/** UDP ping-pong between two user-space processes (two wake-ups per round trip). */
async function sockperf(procs: ProcessTable, t: Topology, timeS: number): Promise<Record<string, number>> {
  const bound = timeS + 20;
  const server = procs.spawn(["ip", "netns", "exec", t.server.ns, "timeout", String(bound), "sockperf", "sr", "-i", t.server.ipv4, "-p", String(SOCKPERF_PORT)], ["ignore", "ignore", "ignore"]);
  try {
    await waitListening(procs, t.server.ns, "udp", SOCKPERF_PORT, server);
    const r = await procs.run(["ip", "netns", "exec", t.client.ns, "timeout", String(bound), "sockperf", "pp", "-i", t.server.ipv4, "-p", String(SOCKPERF_PORT), "-m", "64", "-t", String(timeS), "--full-rtt"], (bound + 5) * 1000);
    const pct = (p: string) => Number(new RegExp(`percentile ${p} =\\s*([\\d.]+)`).exec(r.stdout + r.stderr)?.[1]);
    const p50 = pct("50\\.000"), p99 = pct("99\\.000");
    if (!Number.isFinite(p50)) throw new Error(`sockperf: no percentiles (exit ${r.code}): ${(r.stdout + r.stderr).slice(-400)}`);
    return { udpRttP50: round(p50, 1), udpRttP99: round(p99, 1) };
  } finally {
    server.kill("SIGTERM");
    await waitExit(server, 3000);
  }
}
