// The router's pod attachments on disk (`control.stateFile`), so that a restarted router gives
// running pods their interfaces back.
//
// Why: a pod's TAP lives as long as the router holds its fd (closing it deletes the device, also
// inside the pod's namespace), and a runtime runs CNI ADD once per pod. After a crash, a SIGKILL
// or a stop for an upgrade nobody else would re-create those interfaces. So the router writes
// every attachment here after each attach and detach and, on start, attaches again every recorded
// pod whose network namespace still exists: same interface name, addresses, MTU and MAC (the MAC
// the CNI result reported). Pods lose their traffic for the restart, not for good. The namespace's
// inode is recorded too: a path that names another namespace by then (/proc/<pid>/ns/net of a
// reused pid) is not restored into.
//
// Format (version 1): {"version": 1, "node": "<name>", "pods": [SavedPod, ...]}. Written to
// "<file>.tmp", fsync'ed, renamed over the file: a crash leaves the old state or the new one,
// never a torn one. A file that does not parse is moved aside to "<file>.bad" and reported, not
// silently replaced; a file of another node is refused (two routers must not share one).
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";

export const POD_STATE_VERSION = 1;

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

export class PodStateError extends Error {
  constructor(readonly file: string, message: string) {
    super(`control.stateFile ${file}: ${message}`);
    this.name = "PodStateError";
  }
}

/** What a state file held: the pods that parse, and one line per entry that did not. */
export interface LoadedPodState { pods: SavedPod[]; skipped: string[]; movedAside?: string }

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

function entryProblem(e: unknown): string | undefined {
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

/**
 * Reads the state of node `node`. A missing file is an empty state. A file that does not parse
 * is renamed to "<file>.bad" (reported in `movedAside`); a file of another node throws.
 */
export function loadPodState(file: string, node: string): LoadedPodState {
  if (!existsSync(file)) return { pods: [], skipped: [] };
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    const bad = `${file}.bad`;
    renameSync(file, bad);
    return { pods: [], skipped: [], movedAside: `${(e as Error).message}; moved to ${bad}` };
  }
  const o = raw as { version?: unknown; node?: unknown; pods?: unknown };
  if (typeof o !== "object" || o === null || o.version !== POD_STATE_VERSION || !Array.isArray(o.pods)) {
    const bad = `${file}.bad`;
    renameSync(file, bad);
    return { pods: [], skipped: [], movedAside: `not a version ${POD_STATE_VERSION} pod state; moved to ${bad}` };
  }
  if (o.node !== node) throw new PodStateError(file, `holds the pods of node ${JSON.stringify(o.node)}, not ${JSON.stringify(node)}`);
  const pods: SavedPod[] = [];
  const skipped: string[] = [];
  o.pods.forEach((e, i) => {
    const problem = entryProblem(e);
    if (problem) { skipped.push(`pods[${i}]: ${problem}`); return; }
    const p = e as SavedPod;
    pods.push({ containerId: p.containerId, ifName: p.ifName, netns: p.netns, ipv4: p.ipv4, ipv6: p.ipv6, mtu: p.mtu, mac: p.mac, network: p.network, netnsInode: p.netnsInode });
  });
  return { pods, skipped };
}

/** Writes the state atomically (tmp, fsync, rename); throws PodStateError when it cannot. */
export function savePodState(file: string, node: string, pods: SavedPod[]): void {
  const tmp = `${file}.tmp`;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, `${JSON.stringify({ version: POD_STATE_VERSION, node, pods }, null, 1)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (e) {
    throw new PodStateError(file, `cannot write: ${(e as Error).message}`);
  }
}
