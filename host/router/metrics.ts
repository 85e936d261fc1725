// Prometheus metrics on a local address: per-port packets/bytes, per-reason drops, events,
// per-peer counters, the batch-size histogram, the workers' loop statistics, the router's own
// events, pods and peers, and its health, in the text exposition format; and GET /healthz.
import { createServer, type Server } from "node:http";
import { DROP_REASONS, EVENTS, PORT_HOST, PORT_UNDERLAY } from "../wasm/abi.ts";
import type { Router } from "./router.ts";

const esc = (s: string) => s.replace(/\\/g, "\\\\").replace(/"/g, '\\"');

export function renderMetrics(r: Router): string {
  const k = r.dataplaneCounters();
  const node = esc(r.config.name);
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string) => { lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`); };
  metric("weft_drops_total", "counter", "Packets dropped, by reason (exactly one reason per drop).");
  for (const d of DROP_REASONS) if (d !== "None") lines.push(`weft_drops_total{node="${node}",reason="${d}"} ${k.drops[d]}`);
  metric("weft_events_total", "counter", "Data-plane events that are not drops (ARP replies, ICMP errors sent, fragments, ...).");
  for (const e of EVENTS) lines.push(`weft_events_total{node="${node}",event="${e}"} ${k.events[e]}`);
  const ports = new Map<number, string>([[PORT_HOST, "host"], [PORT_UNDERLAY, "underlay"]]);
  for (const a of r.listPods().pods) ports.set(a.port, `pod:${a.containerId}/${a.ifName}`);
  for (const [m, field, help] of [["weft_port_rx_packets_total", "rxPackets", "Packets received on a port."], ["weft_port_rx_bytes_total", "rxBytes", "Bytes received on a port."], ["weft_port_tx_packets_total", "txPackets", "Packets sent on a port."], ["weft_port_tx_bytes_total", "txBytes", "Bytes sent on a port."]] as const) {
    metric(m, "counter", help);
    for (const [p, name] of ports) lines.push(`${m}{node="${node}",port="${esc(name)}"} ${k.ports[p]![field]}`);
  }
  for (const [m, field, help] of [["weft_peer_rx_packets_total", "rxPackets", "Packets decapsulated from a peer."], ["weft_peer_tx_packets_total", "txPackets", "Packets encapsulated to a peer."], ["weft_peer_tx_bytes_total", "txBytes", "Bytes (outer) sent to a peer."]] as const) {
    metric(m, "counter", help);
    for (const p of r.tables.peers.values()) lines.push(`${m}{node="${node}",peer="${esc(p.name)}"} ${k.peers[p.idx]![field]}`);
  }
  const s = r.datapathStats();
  metric("weft_batch_size", "histogram", "Packets per pipeline call.");
  const bounds = [1, 3, 7, 15, 31, 63, 127, 255, 256];
  let cum = 0;
  bounds.forEach((b, i) => { cum += s.batchSizes[i]!; lines.push(`weft_batch_size_bucket{node="${node}",le="${b}"} ${cum}`); });
  lines.push(`weft_batch_size_bucket{node="${node}",le="+Inf"} ${cum}`, `weft_batch_size_sum{node="${node}"} ${s.packetsIn}`, `weft_batch_size_count{node="${node}"} ${s.batches}`);
  metric("weft_tx_dropped_total", "counter", "Packets a port could not take (would block).");
  lines.push(`weft_tx_dropped_total{node="${node}"} ${s.txDropped}`);
  metric("weft_offload_total", "counter", "TUN/TAP offloads: super-packets read, segments split from them, coalesced frames written, super-packets refused.");
  lines.push(`weft_offload_total{node="${node}",what="super_packets_in"} ${s.superPacketsIn}`, `weft_offload_total{node="${node}",what="segments_out"} ${s.segmentsOut}`,
    `weft_offload_total{node="${node}",what="coalesced_writes"} ${s.coalescedWrites}`, `weft_offload_total{node="${node}",what="refused"} ${s.offloadRefused}`,
    `weft_offload_total{node="${node}",what="gro_writes_disabled_ports"} ${s.groWritesDisabled}`);
  const w = Object.entries(r.wasmOffloadCounters());
  if (w.length) {
    metric("weft_offload_wasm_total", "counter", "The Wasm offload calls: GSO super-packets split (TCP and USO), segments made, GRO inputs merged into super-packets.");
    for (const [k, v] of w) if (!k.startsWith("refused.")) lines.push(`weft_offload_wasm_total{node="${node}",what="${k}"} ${v}`);
    metric("weft_offload_refused_total", "counter", "Super-packets the Wasm splitter refused, by reason (docs/OFFLOADS.md).");
    for (const [k, v] of w) if (k.startsWith("refused.")) lines.push(`weft_offload_refused_total{node="${node}",reason="${k.slice(8)}"} ${v}`);
  }
  const t = r.tunOffloadCounters();
  metric("weft_tun_offload_active", "gauge", "Host TUN (1/0) and pod TAPs (count) whose TUNSETOFFLOAD took TSO, and USO.");
  lines.push(`weft_tun_offload_active{node="${node}",device="host",offload="tso"} ${t["offload.host_tun_tso"]}`,
    `weft_tun_offload_active{node="${node}",device="host",offload="uso"} ${t["offload.host_tun_uso"]}`,
    `weft_tun_offload_active{node="${node}",device="pods",offload="tso"} ${t["offload.pod_taps_tso"]}`,
    `weft_tun_offload_active{node="${node}",device="pods",offload="uso"} ${t["offload.pod_taps_uso"]}`);
  const io = [...r.ioErrorsByName()];
  metric("weft_io_errors_total", "counter", "Packets lost to a per-packet I/O error, per port (a pod's link down, the underlay unreachable, ...); weft counters shows the last errno.");
  for (const [name, e] of io) lines.push(`weft_io_errors_total{node="${node}",port="${esc(name)}"} ${e.errors}`);
  metric("weft_io_truncated_total", "counter", "Received packets larger than their slot, per port (dropped).");
  for (const [name, e] of io) lines.push(`weft_io_truncated_total{node="${node}",port="${esc(name)}"} ${e.truncated}`);
  const ul = io.find(([name]) => name === "underlay");
  if (ul) {
    metric("weft_underlay_kernel_drops_total", "counter", "Datagrams the kernel dropped at the underlay socket's full receive queue (SO_RXQ_OVFL).");
    lines.push(`weft_underlay_kernel_drops_total{node="${node}"} ${ul[1].kernelDrops}`);
  }
  const u = r.underlayOffloadCounters();
  if ("underlay.udp_gso_active" in u) {
    metric("weft_underlay_udp_offload_active", "gauge", "Underlay UDP offloads in use after probing (1) or not (0).");
    lines.push(`weft_underlay_udp_offload_active{node="${node}",offload="gso"} ${u["underlay.udp_gso_active"]}`,
      `weft_underlay_udp_offload_active{node="${node}",offload="gro"} ${u["underlay.udp_gro_active"]}`);
    metric("weft_underlay_udp_offload_total", "counter", "Underlay UDP GSO sends, packets in them, runs sent packet by packet; GRO datagrams received, packets split from them, of those received straight into their slots.");
    for (const k of ["gso_sends", "gso_segments", "gso_fallbacks", "gro_datagrams", "gro_segments", "gro_in_place"])
      lines.push(`weft_underlay_udp_offload_total{node="${node}",what="${k}"} ${u[`underlay.${k}`]}`);
  }
  metric("weft_router_events_total", "counter", "The router's own events: host port repairs by the watchdog, pods found without their device, state file writes that failed.");
  for (const [what, v] of Object.entries(r.routerEvents())) lines.push(`weft_router_events_total{node="${node}",what="${what}"} ${v}`);
  const pods = r.listPods().pods;
  metric("weft_pods", "gauge", "Pod attachments, by state (up, or device_gone: its interface was deleted under the router).");
  lines.push(`weft_pods{node="${node}",state="up"} ${pods.filter((p) => !p.deviceGone).length}`, `weft_pods{node="${node}",state="device_gone"} ${pods.filter((p) => p.deviceGone).length}`);
  const peers = r.peers().peers;
  metric("weft_peers", "gauge", "Peers, by origin (the node config, or the control socket).");
  for (const origin of ["config", "control"]) lines.push(`weft_peers{node="${node}",origin="${origin}"} ${peers.filter((p) => p.origin === origin).length}`);
  metric("weft_healthy", "gauge", "1 when GET /healthz would answer ok (running, every worker answering, the host interface present), else 0.");
  lines.push(`weft_healthy{node="${node}"} ${r.health().ok ? 1 : 0}`);
  const loops = r.loopStats();
  if (loops.length) {
    metric("weft_loop_total", "counter", "Per data-plane worker, its batch loop: wake-ups with packets or requests, control wake-ups, reads that failed (a dead fd, no longer watched); native loop: spin hits (datapath.spinUs found packets before sleeping), sleeps.");
    for (const { worker, stats: ls } of loops) {
      const row = (what: string, v: number | undefined) => { if (v !== undefined) lines.push(`weft_loop_total{node="${node}",worker="${worker}",what="${what}"} ${v}`); };
      row("wakeups", ls.wakeups); row("control_wakeups", ls.controlWakeups); row("read_failures", ls.readFailures);
      row("spin_hits", ls.spinHits); row("sleeps", ls.sleeps);
    }
  }
  return lines.join("\n") + "\n";
}

export class MetricsServer {
  private constructor(private readonly server: Server, readonly address: string) {}

  /**
   * Serves GET /metrics on `listen` ("127.0.0.1:9105", "[::1]:9105", or a port), and GET /healthz
   * for liveness probes: 200 "ok", or 503 with one problem per line (Router.health).
   */
  static async listen(listen: string, r: Router): Promise<MetricsServer> {
    const m = listen.match(/^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/) ?? listen.match(/^()()(\d+)$/);
    if (!m) throw new Error(`metrics.listen: expected host:port, got ${listen}`);
    const host = m[1] || m[2] || "127.0.0.1";
    const port = Number(m[3]);
    const server = createServer((req, res) => {
      if (req.url === "/healthz") {
        const h = r.health();
        res.writeHead(h.ok ? 200 : 503, { "content-type": "text/plain" }).end(h.ok ? "ok\n" : `${h.problems.join("\n")}\n`);
        return;
      }
      if (req.url !== "/metrics") { res.writeHead(404).end("try /metrics or /healthz\n"); return; }
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(renderMetrics(r));
    });
    await new Promise<void>((resolve, reject) => { server.once("error", reject); server.listen(port, host, () => resolve()); });
    const a = server.address();
    return new MetricsServer(server, typeof a === "object" && a ? `${a.address}:${a.port}` : listen);
  }

  async close(): Promise<void> { await new Promise<void>((resolve) => this.server.close(() => resolve())); }
}
