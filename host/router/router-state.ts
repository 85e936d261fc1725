// What the router was told at run time, on disk (`control.stateFile`), so that a restart loses
// none of it: the pod attachments and the peer and route changes made through the control socket.
//
// Pods. A pod's TAP lives as long as the router holds its fd (closing it deletes the device, also
// inside the pod's namespace), and a runtime runs CNI ADD once per pod. After a crash, a SIGKILL
// or a stop for an upgrade nobody else would re-create those interfaces. So the router writes
// every attachment here after each attach and detach and, on start, attaches again every recorded
// pod whose network namespace still exists: same interface name, addresses, MTU and MAC (the MAC
// the CNI result reported). Pods lose their traffic for the restart, not for good. The namespace's
// inode is recorded too: a path that names another namespace by then (/proc/<pid>/ns/net of a
// reused pid) is not restored into.
//
// Peers and static routes. The config's are the base; what addPeer/removePeer/addRoute/removeRoute
// changed is recorded as changes on top of it and replayed at start, so a control plane's peers do
// not vanish with a restart until it notices. A change that adds or replaces wins over the config.
// A removal of one of the config's entries is recorded with the entry as the config had it, and is
// replayed only while the config still has it so: an operator who edits that entry in the config
// file meant the new one.
//
// Format (version 2): {"version": 2, "node": "<name>", "pods": [SavedPod...], "peersSet": [PeerConfig...],
// "peersRemoved": [PeerConfig...], "routesSet": [SavedRoute...], "routesRemoved": [SavedRoute...]}.
// Version 1 (pods only, by default in "<socket>.pods.json": the router reads that name when the
// new one is absent, once) is read too. Written to "<file>.tmp", fsync'ed, renamed over the file: a
// crash leaves the old state or the new one, never a torn one. A file that does not parse is moved
// aside to "<file>.bad" and reported, not silently replaced; a file of another node is refused (two
// routers must not share one). An entry that does not validate is skipped and reported, the rest kept.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { parsePeer, type PeerConfig } from "../config/node-config.ts";
import { parseCidr } from "../net/addr.ts";
import type { AddRouteArgs } from "../control/protocol.ts";

export const ROUTER_STATE_VERSION = 2;

/** One attachment as recorded: what attachPod needs to make it again. */
export interface SavedPod {
  containerId: string;
  ifName: string;
  netns: string;
  /** "a.b.c.d/32" */
  ipv4?: string;
  /** "x::y/128" */
  ipv6?: string;
  mtu: number;
  mac: string;
  network?: string;
  /** The namespace's inode when attached: a path that names another namespace now is not restored. */
  netnsInode?: number;
}

/** A static route as addRoute takes it. */
export interface SavedRoute { dst: string; target: AddRouteArgs["target"] }

/** Everything the file records. */
export interface RouterState {
  pods: SavedPod[];
  /** Peers added or replaced at run time (they win over the config's of the same name). */
  peersSet: PeerConfig[];
  /** The config's peers removed at run time, as the config had them. */
  peersRemoved: PeerConfig[];
  /** Static routes added or replaced at run time. */
  routesSet: SavedRoute[];
  /** The config's static routes removed at run time, as the config had them. */
  routesRemoved: SavedRoute[];
}

export const emptyRouterState = (): RouterState => ({ pods: [], peersSet: [], peersRemoved: [], routesSet: [], routesRemoved: [] });

export class RouterStateError extends Error {
  constructor(readonly file: string, message: string) {
    super(`control.stateFile ${file}: ${message}`);
    this.name = "RouterStateError";
  }
}

/** What a state file held: the entries that validate, and one line per entry that did not. */
export interface LoadedRouterState extends RouterState { skipped: string[]; movedAside?: string }

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

function podProblem(e: unknown): string | undefined {
  if (typeof e !== "object" || e === null || Array.isArray(e)) return "not a mapping";
  const o = e as Record<string, unknown>;
  for (const k of ["containerId", "ifName", "netns", "mac"]) if (typeof o[k] !== "string" || o[k] === "") return `${k} missing`;
  for (const k of ["ipv4", "ipv6", "network"]) if (o[k] !== undefined && typeof o[k] !== "string") return `${k} is not a string`;
  if (o.netnsInode !== undefined && (typeof o.netnsInode !== "number" || !Number.isInteger(o.netnsInode))) return "netnsInode is not an integer";
  if (o.ipv4 === undefined && o.ipv6 === undefined) return "no address";
  if (typeof o.mtu !== "number" || !Number.isInteger(o.mtu)) return "mtu missing";
  if (!MAC.test(o.mac as string)) return `mac ${JSON.stringify(o.mac)}`;
  return undefined;
}

function parseSavedPod(e: unknown): SavedPod {
  const problem = podProblem(e);
  if (problem) throw new Error(problem);
  const p = e as SavedPod;
  return { containerId: p.containerId, ifName: p.ifName, netns: p.netns, ipv4: p.ipv4, ipv6: p.ipv6, mtu: p.mtu, mac: p.mac, network: p.network, netnsInode: p.netnsInode };
}

function parseSavedRoute(e: unknown): SavedRoute {
  if (typeof e !== "object" || e === null || Array.isArray(e)) throw new Error("not a mapping");
  const { dst, target } = e as { dst?: unknown; target?: { kind?: unknown; peer?: unknown } };
  if (typeof dst !== "string") throw new Error("dst missing");
  const text = parseCidr(dst).text;
  if (typeof target !== "object" || target === null) throw new Error("target missing");
  if (target.kind === "host" || target.kind === "blackhole") return { dst: text, target: { kind: target.kind } };
  if (target.kind === "peer" && typeof target.peer === "string" && target.peer !== "") return { dst: text, target: { kind: "peer", peer: target.peer } };
  throw new Error(`target ${JSON.stringify(target)}`);
}

/** Parses o[key] (absent: none) entry by entry; what does not parse goes to `skipped`. */
function entries<T>(o: Record<string, unknown>, key: string, parse: (e: unknown) => T, skipped: string[]): T[] {
  const v = o[key];
  if (v === undefined) return [];
  if (!Array.isArray(v)) { skipped.push(`${key}: not a list`); return []; }
  const out: T[] = [];
  v.forEach((e, i) => {
    try { out.push(parse(e)); } catch (err) { skipped.push(`${key}[${i}]: ${(err as Error).message}`); }
  });
  return out;
}

/**
 * Reads the state of node `node`. A missing file is an empty state. A file that does not parse
 * is renamed to "<file>.bad" (reported in `movedAside`); a file of another node throws.
 */
export function loadRouterState(file: string, node: string): LoadedRouterState {
  if (!existsSync(file)) return { ...emptyRouterState(), skipped: [] };
  const moveAside = (why: string): LoadedRouterState => {
    const bad = `${file}.bad`;
    renameSync(file, bad);
    return { ...emptyRouterState(), skipped: [], movedAside: `${why}; moved to ${bad}` };
  };
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    return moveAside((e as Error).message);
  }
  const o = raw as Record<string, unknown>;
  if (typeof o !== "object" || o === null || (o.version !== 1 && o.version !== ROUTER_STATE_VERSION) || !Array.isArray(o.pods)) {
    return moveAside(`not a version 1 or ${ROUTER_STATE_VERSION} router state`);
  }
  if (o.node !== node) throw new RouterStateError(file, `holds the state of node ${JSON.stringify(o.node)}, not ${JSON.stringify(node)}`);
  const skipped: string[] = [];
  const peer = (e: unknown) => parsePeer(e, "");
  return {
    pods: entries(o, "pods", parseSavedPod, skipped),
    peersSet: entries(o, "peersSet", peer, skipped),
    peersRemoved: entries(o, "peersRemoved", peer, skipped),
    routesSet: entries(o, "routesSet", parseSavedRoute, skipped),
    routesRemoved: entries(o, "routesRemoved", parseSavedRoute, skipped),
    skipped,
  };
}

/** Writes the state atomically (tmp, fsync, rename); throws RouterStateError when it cannot. */
export function saveRouterState(file: string, node: string, state: RouterState): void {
  const tmp = `${file}.tmp`;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, `${JSON.stringify({ version: ROUTER_STATE_VERSION, node, ...state }, null, 1)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (e) {
    throw new RouterStateError(file, `cannot write: ${(e as Error).message}`);
  }
}
