// The node configuration (node.yaml / tables.yaml): one schema for `weft router`, `weft replay`
// and the library's createRouter(). parseNodeConfig validates everything up front and names the
// offending field, so nothing is ever half-configured from a bad file.

import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { parseIp, parseCidr, parseMac, formatIp, cidrContains, type Cidr } from "../net/addr.ts";

export class ConfigError extends Error {
  constructor(readonly field: string, message: string) { super(`${field}: ${message}`); this.name = "ConfigError"; }
}

export interface PeerConfig { name: string; underlay: string; vtepMac: string; podCIDRs: string[] }
export interface PodConfig { name: string; mac: string; ipv4?: string; ipv6?: string; port?: number }
export type RouteVia = "host" | "blackhole" | `peer:${string}` | `pod:${string}`;
export interface RouteConfig { dst: string; via: RouteVia }

export interface NodeConfig {
  name: string;
  encapsulation: "vxlan" | "geneve";
  port: number;
  vni: number;
  vtepMac: string;
  routerMac: string;
  underlay: { ipv4?: string; ipv6?: string; mtu: number; interface?: string };
  podCIDRs: string[];
  clusterCIDRs: string[];
  /** Derived unless given: the first address of each pod CIDR. */
  gateway4?: string;
  gateway6?: string;
  mtu: { pod: number; host: number; tunnel4: number; tunnel6: number };
  udpChecksum4: boolean;
  icmp: { ratePerSec: number; burst: number };
  peers: PeerConfig[];
  pods: PodConfig[];
  routes: RouteConfig[];
  /**
   * Router process settings (ignored by replay). `stateFile`: where the router keeps its pod
   * attachments and the peer and route changes made at run time, so that a restarted router
   * (after a crash, SIGKILL, or a stop for an upgrade) re-creates the pods' interfaces and its
   * peers (host/router/router-state.ts); default next to the control socket
   * (`/run/weft/weft.state.json`), `false` for none.
   */
  control: { socket: string; cniSocket?: string; stateFile?: string | false };
  metrics?: { listen: string };
  /** Network namespace the router's node side lives in (default: the one it runs in). */
  netns?: string;
  hostInterface: string;
  /**
   * TUN/TAP offloads (docs/OFFLOADS.md): pod TAPs and the host TUN opened with IFF_VNET_HDR and
   * TSO (and USO where the kernel has it, Linux 6.2+), super-packets split and received TCP
   * segments coalesced in Wasm. Probed per device; a device that refuses falls back to plain
   * packets (TSO only when USO alone is refused).
   * udpGso / udpGro: UDP_SEGMENT on underlay sends, UDP_GRO on underlay receives (docs/OFFLOADS.md,
   * "Underlay UDP GSO and GRO"); probed at start, off when the kernel refuses.
   */
  offloads: { tun: boolean; udpGso: boolean; udpGro: boolean };
  limits: { maxPods: number; maxPeers: number; maxRoutes4: number; maxRoutes6: number };
  /**
   * Data-plane workers (docs/WORKERS.md): 1 = the batch loop on the main thread; N > 1 = N worker
   * threads, each with its own Wasm instance, over multi-queue TAP/TUN and SO_REUSEPORT sockets.
   */
  workers: number;
  /**
   * The batch loop (docs/WORKERS.md). `loop: "native"` (default): worker threads (also with
   * workers: 1) whose wait, reads and writes are one native call per batch and whose batch is one
   * Wasm call (host/router/workers/native-loop.ts). `loop: "epoll"`: worker threads that block in
   * one epoll_wait over their fds plus an eventfd for control requests, the batch in JS.
   * `loop: "libuv"`: uv_poll per fd and one event-loop turn per readiness event (with workers: 1
   * on the main thread). `spinUs` (native and epoll, default 0): poll without blocking this long
   * before each sleep (native: yielding the CPU on every round, up to 1 s: longer than the gaps
   * between packets it is a poll mode; epoll: up to 1000 µs). `runtime` (native loop only):
   * "v8" (default) runs the data plane's Wasm in V8; "aot" runs the same module compiled ahead
   * of time to native code (wasm2c, docs/AOT.md), the whole loop in the addon with no JS per batch.
   */
  datapath: { loop: "libuv" | "epoll" | "native"; spinUs: number; runtime?: "v8" | "aot" };
}

/**
 * Upper bounds of `datapath.spinUs` per loop. The native loop yields the CPU between polls, so a
 * spin longer than the traffic's gaps is a poll mode (the router polls while traffic flows and
 * sleeps after spinUs of silence); the epoll loop's spin does not yield and stays short.
 */
export const SPIN_MAX_US = { native: 1_000_000, epoll: 1000 } as const;

/** Upper bound of `workers` (the kernel allows 256 TUN queues; more threads than cores only cost). */
export const MAX_WORKERS = 64;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function str(o: Obj, k: string, path: string, def?: string): string {
  const v = o[k];
  if (v === undefined || v === null) { if (def !== undefined) return def; throw new ConfigError(`${path}${k}`, "is required"); }
  if (typeof v !== "string" || v === "") throw new ConfigError(`${path}${k}`, `must be a non-empty string, not ${JSON.stringify(v)}`);
  return v;
}
function optStr(o: Obj, k: string, path: string): string | undefined {
  return o[k] === undefined || o[k] === null ? undefined : str(o, k, path);
}
function int(o: Obj, k: string, path: string, def: number, min: number, max: number): number {
  const v = o[k] ?? def;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) throw new ConfigError(`${path}${k}`, `must be an integer in ${min}..${max}, not ${JSON.stringify(v)}`);
  return v;
}
function bool(o: Obj, k: string, path: string, def: boolean): boolean {
  const v = o[k] ?? def;
  if (typeof v !== "boolean") throw new ConfigError(`${path}${k}`, `must be true or false`);
  return v;
}
function arr(o: Obj, k: string, path: string): unknown[] {
  const v = o[k] ?? [];
  if (!Array.isArray(v)) throw new ConfigError(`${path}${k}`, "must be a list");
  return v;
}
function ip(o: Obj, k: string, path: string, family?: 4 | 6): string | undefined {
  const v = optStr(o, k, path);
  if (v === undefined) return undefined;
  let b: Uint8Array;
  try { b = parseIp(v); } catch (e) { throw new ConfigError(`${path}${k}`, (e as Error).message); }
  if (family && b.length !== (family === 4 ? 4 : 16)) throw new ConfigError(`${path}${k}`, `must be an IPv${family} address`);
  return formatIp(b);
}
function mac(o: Obj, k: string, path: string, def?: string): string {
  const v = str(o, k, path, def);
  let b: Uint8Array;
  try { b = parseMac(v); } catch (e) { throw new ConfigError(`${path}${k}`, (e as Error).message); }
  if (b[0]! & 1) throw new ConfigError(`${path}${k}`, "must be a unicast MAC (low bit of the first byte clear)");
  return v.toLowerCase();
}
function cidrList(o: Obj, k: string, path: string): Cidr[] {
  return arr(o, k, path).map((v, i) => {
    if (typeof v !== "string") throw new ConfigError(`${path}${k}[${i}]`, "must be a CIDR string");
    try { return parseCidr(v); } catch (e) { throw new ConfigError(`${path}${k}[${i}]`, (e as Error).message); }
  });
}

/** The first address after the network address: the pods' gateway. */
export function gatewayOf(c: Cidr): string {
  const a = c.addr.slice();
  a[a.length - 1]! |= 1;
  return formatIp(a);
}

export function parseNodeConfig(raw: unknown): NodeConfig {
  if (!isObj(raw)) throw new ConfigError("(top)", "the configuration must be a mapping");
  const known = new Set(["name", "encapsulation", "port", "vni", "vtepMac", "routerMac", "underlay", "podCIDRs", "clusterCIDRs", "gateway4", "gateway6", "mtu", "podMtu", "udpChecksum4", "icmp", "peers", "pods", "routes", "control", "metrics", "netns", "hostInterface", "offloads", "limits", "workers", "datapath"]);
  for (const k of Object.keys(raw)) if (!known.has(k)) throw new ConfigError(k, `unknown field (known: ${[...known].join(", ")})`);
  const name = str(raw, "name", "");
  const encapsulation = str(raw, "encapsulation", "", "vxlan");
  if (encapsulation !== "vxlan" && encapsulation !== "geneve") throw new ConfigError("encapsulation", `must be vxlan or geneve, not ${encapsulation}`);
  const port = int(raw, "port", "", encapsulation === "vxlan" ? 8472 : 6081, 1, 65535);
  const vni = int(raw, "vni", "", 1, 0, 0xffffff);
  const vtepMac = mac(raw, "vtepMac", "");
  const routerMac = mac(raw, "routerMac", "", "02:77:65:66:74:01");
  const u = raw.underlay ?? {};
  if (!isObj(u)) throw new ConfigError("underlay", "must be a mapping with ipv4 and/or ipv6 and mtu");
  const underlay = { ipv4: ip(u, "ipv4", "underlay.", 4), ipv6: ip(u, "ipv6", "underlay.", 6), mtu: int(u, "mtu", "underlay.", 1500, 1280, 65535), interface: optStr(u, "interface", "underlay.") };
  if (!underlay.ipv4 && !underlay.ipv6) throw new ConfigError("underlay", "needs an ipv4 or an ipv6 address");
  const pod = cidrList(raw, "podCIDRs", "");
  if (pod.length === 0) throw new ConfigError("podCIDRs", "needs at least one pod CIDR");
  if (pod.filter((c) => c.family === 4).length > 1 || pod.filter((c) => c.family === 6).length > 1) throw new ConfigError("podCIDRs", "at most one IPv4 and one IPv6 CIDR");
  for (const c of pod) if ((c.family === 4 && c.len > 30) || (c.family === 6 && c.len > 126)) throw new ConfigError("podCIDRs", `${c.text} is too small`);
  const cluster = cidrList(raw, "clusterCIDRs", "");
  const p4 = pod.find((c) => c.family === 4), p6 = pod.find((c) => c.family === 6);
  const gateway4 = ip(raw, "gateway4", "", 4) ?? (p4 && gatewayOf(p4));
  const gateway6 = ip(raw, "gateway6", "", 6) ?? (p6 && gatewayOf(p6));
  const m = underlay.mtu;
  const podMtu = int(raw, "podMtu", "", m - (underlay.ipv4 ? 50 : 70), 576, 65535);
  const icmpRaw = isObj(raw.icmp) ? raw.icmp : {};
  const ctl = isObj(raw.control) ? raw.control : {};
  const lim = isObj(raw.limits) ? raw.limits : {};
  const cfg: NodeConfig = {
    name, encapsulation, port, vni, vtepMac, routerMac, underlay,
    podCIDRs: pod.map((c) => c.text), clusterCIDRs: cluster.map((c) => c.text), gateway4, gateway6,
    mtu: { pod: podMtu, host: podMtu, tunnel4: m - 50, tunnel6: m - 70 },
    udpChecksum4: bool(raw, "udpChecksum4", "", false),
    icmp: { ratePerSec: int(icmpRaw, "ratePerSec", "icmp.", 1000, 0, 1_000_000), burst: int(icmpRaw, "burst", "icmp.", 50, 0, 1_000_000) },
    peers: [], pods: [], routes: [],
    control: parseControl(ctl),
    metrics: isObj(raw.metrics) ? { listen: str(raw.metrics, "listen", "metrics.") } : undefined,
    netns: optStr(raw, "netns", ""),
    hostInterface: str(raw, "hostInterface", "", "weft0"),
    offloads: parseOffloads(raw.offloads),
    workers: int(raw, "workers", "", 1, 1, MAX_WORKERS),
    datapath: parseDatapath(raw.datapath),
    limits: {
      maxPods: int(lim, "maxPods", "limits.", 1024, 1, 65000), maxPeers: int(lim, "maxPeers", "limits.", 1024, 1, 65000),
      maxRoutes4: int(lim, "maxRoutes4", "limits.", 16384, 1, 1 << 22), maxRoutes6: int(lim, "maxRoutes6", "limits.", 16384, 1, 1 << 22),
    },
  };
  const names = new Set<string>();
  arr(raw, "peers", "").forEach((p, i) => cfg.peers.push(parsePeer(p, `peers[${i}].`, names)));
  const podNames = new Set<string>();
  arr(raw, "pods", "").forEach((p, i) => cfg.pods.push(parsePod(p, `pods[${i}].`, podNames, pod)));
  arr(raw, "routes", "").forEach((r, i) => cfg.routes.push(parseRoute(r, `routes[${i}].`, names, podNames)));
  return cfg;
}

function parseControl(ctl: Obj): NodeConfig["control"] {
  for (const k of Object.keys(ctl)) if (!["socket", "cniSocket", "stateFile"].includes(k)) throw new ConfigError(`control.${k}`, "unknown field (known: socket, cniSocket, stateFile)");
  const socket = str(ctl, "socket", "control.", "/run/weft/weft.sock");
  const cniSocket = optStr(ctl, "cniSocket", "control.");
  if (ctl.stateFile === false) return { socket, cniSocket, stateFile: false }; // kept explicit: a written-out config parses the same
  if (ctl.stateFile === true) throw new ConfigError("control.stateFile", "must be a path, or false for none");
  const stateFile = optStr(ctl, "stateFile", "control.") ?? `${socket.replace(/\.sock$/, "")}.state.json`;
  if (stateFile === socket || stateFile === cniSocket) throw new ConfigError("control.stateFile", "must differ from the control sockets");
  return { socket, cniSocket, stateFile };
}

function parseDatapath(v: unknown): NodeConfig["datapath"] {
  if (v === undefined || v === null) v = {};
  if (!isObj(v)) throw new ConfigError("datapath", "must be a mapping {loop, spinUs, runtime}");
  for (const k of Object.keys(v)) if (!["loop", "spinUs", "runtime"].includes(k)) throw new ConfigError(`datapath.${k}`, "unknown field (known: loop, spinUs, runtime)");
  const loop = v.loop ?? "native";
  if (loop !== "libuv" && loop !== "epoll" && loop !== "native") throw new ConfigError("datapath.loop", `must be "libuv", "epoll" or "native", not ${JSON.stringify(loop)}`);
  const spinUs = int(v, "spinUs", "datapath.", 0, 0, SPIN_MAX_US.native);
  if (spinUs > 0 && loop === "libuv") throw new ConfigError("datapath.spinUs", "needs datapath.loop: native or epoll");
  if (loop === "epoll" && spinUs > SPIN_MAX_US.epoll)
    throw new ConfigError("datapath.spinUs", `must be at most ${SPIN_MAX_US.epoll} with datapath.loop: epoll (its spin does not yield the CPU to the pods); up to ${SPIN_MAX_US.native} with native`);
  const runtime = v.runtime ?? "v8";
  if (runtime !== "v8" && runtime !== "aot") throw new ConfigError("datapath.runtime", `must be "v8" or "aot", not ${JSON.stringify(runtime)}`);
  if (runtime === "aot" && loop !== "native") throw new ConfigError("datapath.runtime", "\"aot\" needs datapath.loop: native");
  return { loop, spinUs, runtime };
}

function parseOffloads(v: unknown): NodeConfig["offloads"] {
  if (v === undefined || v === null) v = {};
  if (!isObj(v)) throw new ConfigError("offloads", "must be a mapping {tun, udpGso, udpGro}");
  for (const k of Object.keys(v)) if (!["tun", "udpGso", "udpGro"].includes(k)) throw new ConfigError(`offloads.${k}`, "unknown field (known: tun, udpGso, udpGro)");
  return { tun: bool(v, "tun", "offloads.", true), udpGso: bool(v, "udpGso", "offloads.", true), udpGro: bool(v, "udpGro", "offloads.", true) };
}

export function parsePeer(p: unknown, path: string, names = new Set<string>()): PeerConfig {
  if (!isObj(p)) throw new ConfigError(path.slice(0, -1), "must be a mapping");
  const name = str(p, "name", path);
  if (names.has(name)) throw new ConfigError(`${path}name`, `duplicate peer ${name}`);
  names.add(name);
  return { name, underlay: ip(p, "underlay", path)!, vtepMac: mac(p, "vtepMac", path), podCIDRs: cidrList(p, "podCIDRs", path).map((c) => c.text) };
}

export function parsePod(p: unknown, path: string, names = new Set<string>(), podCIDRs: Cidr[] = []): PodConfig {
  if (!isObj(p)) throw new ConfigError(path.slice(0, -1), "must be a mapping");
  const name = str(p, "name", path);
  if (names.has(name)) throw new ConfigError(`${path}name`, `duplicate pod ${name}`);
  names.add(name);
  const pod: PodConfig = { name, mac: mac(p, "mac", path), ipv4: ip(p, "ipv4", path, 4), ipv6: ip(p, "ipv6", path, 6) };
  if (p.port !== undefined) pod.port = int(p, "port", path, 0, 2, 65535);
  if (!pod.ipv4 && !pod.ipv6) throw new ConfigError(path.slice(0, -1), "a pod needs ipv4 and/or ipv6");
  for (const [k, v] of [["ipv4", pod.ipv4], ["ipv6", pod.ipv6]] as const) {
    if (!v || podCIDRs.length === 0) continue;
    const b = parseIp(v);
    if (!podCIDRs.some((c) => cidrContains(c, b))) throw new ConfigError(`${path}${k}`, `${v} is outside the node's pod CIDRs`);
  }
  return pod;
}

function parseRoute(r: unknown, path: string, peers: Set<string>, pods: Set<string>): RouteConfig {
  if (!isObj(r)) throw new ConfigError(path.slice(0, -1), "must be a mapping {dst, via}");
  const dst = str(r, "dst", path);
  try { parseCidr(dst); } catch (e) { throw new ConfigError(`${path}dst`, (e as Error).message); }
  const via = str(r, "via", path);
  if (via === "host" || via === "blackhole") return { dst, via };
  if (via.startsWith("peer:") && peers.has(via.slice(5))) return { dst, via: via as RouteVia };
  if (via.startsWith("pod:") && pods.has(via.slice(4))) return { dst, via: via as RouteVia };
  throw new ConfigError(`${path}via`, `must be host, blackhole, peer:<known peer> or pod:<known pod>, not ${via}`);
}

export function loadNodeConfig(path: string): NodeConfig {
  let text: string;
  try { text = readFileSync(path, "utf8"); } catch (e) { throw new ConfigError(path, `cannot read: ${(e as Error).message}`); }
  let raw: unknown;
  try { raw = path.endsWith(".json") ? JSON.parse(text) : parseYaml(text); } catch (e) { throw new ConfigError(path, `not valid ${path.endsWith(".json") ? "JSON" : "YAML"}: ${(e as Error).message}`); }
  return parseNodeConfig(raw);
}
