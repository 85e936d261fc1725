// The CNI socket: the router side of the native CNI fast path (host/cni-shim/shim.c).
//
// Design notes
// - The shim sends one request per connection: the CNI_* environment and the stdin bytes of
//   one plugin invocation. This server runs the plugin's own code (runPlugin, host/cni/plugin.ts)
//   in the router process and answers stdout, stderr and the exit code, which the shim relays
//   as they are. The only difference from the Node plugin is the transport to the router: the
//   plugin's RouterPort calls this Router's methods directly, with the control server's
//   argument checks and error mapping (RouterOpError → RouterError(code), anything else →
//   INTERNAL), so results and errors are byte-identical.
// - IPAM is the same on-disk LeaseStore (symlink leases, fsync'ed), so the fast path and Node
//   plugins on the slow path share addresses safely: exactly one symlink(2) wins an address,
//   whichever process makes it. Within this process a lease operation is synchronous, so two
//   requests never interleave inside one.
// - The server answers "unsupported" (the shim then execs the Node plugin with the same input)
//   when it cannot be sure to act as the Node plugin would: the config's `socket` is not this
//   router's control socket (same path, or the same socket inode), the router is not running,
//   or the request is malformed, too large or of another wire version. It answers "expired",
//   without acting, to a request whose deadline passed before it was read (the shim has given
//   up and fallen back by then).
// - Socket mode 0600 (root only), like the control socket.
//
// Wire format: see host/cni-shim/shim.c. All integers big-endian.
import { createServer, type Server, type Socket } from "node:net";
import { chmodSync, statSync, unlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { RouterError } from "../control/client.ts";
import { DEFAULT_SOCKET_PATH, validateArgs, type OpName } from "../control/protocol.ts";
import { defaultDeps, runPlugin, type PluginDeps, type RouterPort } from "../cni/plugin.ts";
import type { NodeConfig } from "../config/node-config.ts";
import { RouterOpError, type Router } from "./router.ts";
import { stripUndefined, claimSocketPath } from "./control-server.ts";

export const CNI_WIRE_MAGIC = "WCNI";
export const CNI_WIRE_VERSION = 1;
export const CNI_REQUEST_HEADER_BYTES = 24;
export const CNI_ANSWER_HEADER_BYTES = 20;
/** Largest request accepted (the shim sends larger ones to the Node plugin directly). */
export const CNI_MAX_REQUEST_BYTES = 8 * 1024 * 1024 + 64 * 1024;
/** How long a connection may take to deliver its request (also while the router is busy). */
const REQUEST_TIMEOUT_MS = 60_000;

export const CniAnswerStatus = { Done: 0, Unsupported: 1, Expired: 2 } as const;
export type CniAnswerStatus = (typeof CniAnswerStatus)[keyof typeof CniAnswerStatus];

/** The CNI socket's file name; the shim looks for it next to the config's control socket. */
export const CNI_SOCKET_NAME = "cni.sock";

/** `control.cniSocket` if the node config has one, else cni.sock beside the control socket. */
export function cniSocketOf(cfg: Pick<NodeConfig, "control">): string {
  const explicit = (cfg.control as { cniSocket?: unknown }).cniSocket;
  return typeof explicit === "string" && explicit !== "" ? explicit : join(dirname(cfg.control.socket), CNI_SOCKET_NAME);
}

export interface CniRequest {
  /** Milliseconds on the CLOCK_MONOTONIC scale (process.hrtime); 0 = none. */
  deadlineMs: bigint;
  env: Record<string, string>;
  stdin: Buffer;
}

export interface CniAnswer {
  status: CniAnswerStatus;
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Encode a request as the shim does (tests, tools). */
export function encodeCniRequest(req: CniRequest): Buffer {
  const env = Buffer.from(Object.entries(req.env).map(([k, v]) => `${k}=${v}\0`).join(""));
  const h = Buffer.alloc(CNI_REQUEST_HEADER_BYTES);
  h.write(CNI_WIRE_MAGIC, 0, "latin1");
  h[4] = CNI_WIRE_VERSION;
  h.writeBigUInt64BE(req.deadlineMs, 8);
  h.writeUInt32BE(env.length, 16);
  h.writeUInt32BE(req.stdin.length, 20);
  return Buffer.concat([h, env, req.stdin]);
}

export type RequestParse =
  | { kind: "incomplete" }
  | { kind: "bad"; reason: string }
  | { kind: "ok"; request: CniRequest };

/** Parse a request from the bytes received so far. */
export function parseCniRequest(buf: Buffer, maxBytes = CNI_MAX_REQUEST_BYTES): RequestParse {
  if (buf.length < CNI_REQUEST_HEADER_BYTES) {
    const n = Math.min(buf.length, 4);
    return buf.subarray(0, n).toString("latin1") === CNI_WIRE_MAGIC.slice(0, n) ? { kind: "incomplete" } : { kind: "bad", reason: "bad magic" };
  }
  if (buf.toString("latin1", 0, 4) !== CNI_WIRE_MAGIC) return { kind: "bad", reason: "bad magic" };
  if (buf[4] !== CNI_WIRE_VERSION) return { kind: "bad", reason: `wire version ${buf[4]}` };
  const envBytes = buf.readUInt32BE(16);
  const stdinBytes = buf.readUInt32BE(20);
  const total = CNI_REQUEST_HEADER_BYTES + envBytes + stdinBytes;
  if (total > maxBytes) return { kind: "bad", reason: `request of ${total} bytes exceeds ${maxBytes}` };
  if (buf.length < total) return { kind: "incomplete" };
  const env: Record<string, string> = {};
  const envText = buf.toString("utf8", CNI_REQUEST_HEADER_BYTES, CNI_REQUEST_HEADER_BYTES + envBytes);
  for (const entry of envText.split("\0")) {
    if (entry === "") continue;
    const eq = entry.indexOf("=");
    if (eq <= 0) return { kind: "bad", reason: "environment entry without =" };
    const k = entry.slice(0, eq);
    if (!(k in env)) env[k] = entry.slice(eq + 1); // the first one wins, like getenv(3)
  }
  const stdin = buf.subarray(CNI_REQUEST_HEADER_BYTES + envBytes, total);
  return { kind: "ok", request: { deadlineMs: buf.readBigUInt64BE(8), env, stdin } };
}

export function encodeCniAnswer(a: CniAnswer): Buffer {
  const out = Buffer.from(a.stdout);
  const err = Buffer.from(a.stderr);
  const h = Buffer.alloc(CNI_ANSWER_HEADER_BYTES);
  h.write(CNI_WIRE_MAGIC, 0, "latin1");
  h[4] = CNI_WIRE_VERSION;
  h[5] = a.status;
  h.writeUInt32BE(a.exitCode >>> 0, 8);
  h.writeUInt32BE(out.length, 12);
  h.writeUInt32BE(err.length, 16);
  return Buffer.concat([h, out, err]);
}

export function decodeCniAnswer(buf: Buffer): CniAnswer | null {
  if (buf.length < CNI_ANSWER_HEADER_BYTES || buf.toString("latin1", 0, 4) !== CNI_WIRE_MAGIC || buf[4] !== CNI_WIRE_VERSION) return null;
  const outBytes = buf.readUInt32BE(12);
  const errBytes = buf.readUInt32BE(16);
  if (buf.length < CNI_ANSWER_HEADER_BYTES + outBytes + errBytes) return null;
  const o = CNI_ANSWER_HEADER_BYTES;
  return {
    status: buf[5] as CniAnswerStatus, exitCode: buf.readUInt32BE(8),
    stdout: buf.toString("utf8", o, o + outBytes), stderr: buf.toString("utf8", o + outBytes, o + outBytes + errBytes),
  };
}

const unsupported = (why: string): CniAnswer => ({ status: CniAnswerStatus.Unsupported, stdout: "", stderr: why, exitCode: 0 });

/** The plugin's router operations on `router` in this process, as the control server runs them. */
export function inProcessRouterPort(router: Router): RouterPort {
  const call = <T>(op: OpName, args: object, fn: (a: never) => unknown): Promise<T> => {
    const a = stripUndefined(args) as Record<string, unknown>;
    const problem = validateArgs(op, a);
    if (problem) return Promise.reject(new RouterError("BAD_REQUEST", problem, op));
    try {
      return Promise.resolve(stripUndefined(fn(a as never)) as T);
    } catch (e) {
      return Promise.reject(new RouterError(e instanceof RouterOpError ? e.code : "INTERNAL", (e as Error).message, op));
    }
  };
  return {
    status: () => call("status", {}, () => router.status()),
    attachPod: (args) => call("attachPod", args, (a) => router.attachPod(a)),
    detachPod: (args) => call("detachPod", args, (a) => router.detachPod(a)),
    listPods: () => call("listPods", {}, () => router.listPods()),
    close: () => {},
  };
}

/** Is `socket` (from a CNI config) the control socket of this router? */
function isOwnSocket(socket: string, own: string): boolean {
  if (socket === own) return true;
  try {
    const a = statSync(socket);
    const b = statSync(own);
    return a.isSocket() && a.dev === b.dev && a.ino === b.ino;
  } catch {
    return false;
  }
}

export interface CniServerStats {
  /** Requests answered by running the plugin here. */
  served: number;
  /** Requests answered "unsupported" or "expired" (the shim ran the Node plugin). */
  declined: number;
}

export interface CniServerOptions {
  /** Called after each request that ran here: the CNI command, exit code, milliseconds. */
  onServed?: (info: { command: string; exitCode: number; ms: number }) => void;
  /** Plugin dependencies (tests); connect is always this router. */
  deps?: Partial<Omit<PluginDeps, "connect">>;
}

export interface CniServer {
  readonly path: string;
  readonly stats: CniServerStats;
  close(): Promise<void>;
}

/**
 * Serve the CNI fast path for `router` on the Unix socket `path` (mode 0600). Refuses when a
 * live server answers there; replaces a stale socket file.
 */
export async function startCniServer(router: Router, path: string, opts: CniServerOptions = {}): Promise<CniServer> {
  await claimSocketPath(path, "CNI server");
  const stats: CniServerStats = { served: 0, declined: 0 };
  const sockets = new Set<Socket>();
  const inflight = new Set<Promise<void>>();
  const port = inProcessRouterPort(router);
  const ownSocket = router.config.control.socket ?? DEFAULT_SOCKET_PATH;

  const handle = async (req: CniRequest): Promise<CniAnswer> => {
    if (req.deadlineMs !== 0n && process.hrtime.bigint() / 1_000_000n > req.deadlineMs) {
      return { status: CniAnswerStatus.Expired, stdout: "", stderr: "", exitCode: 0 };
    }
    if (!router.running) return unsupported("router not running");
    const stdin = req.stdin.toString("utf8");
    // Act only for configs that name this router (the Node plugin would talk to that socket).
    // Configs that cannot be read fail in runPlugin before any router call, the same everywhere.
    try {
      const raw = JSON.parse(stdin) as Record<string, unknown> | null;
      const socket = raw && typeof raw === "object" && !Array.isArray(raw) ? (raw.socket ?? DEFAULT_SOCKET_PATH) : undefined;
      if (typeof socket === "string" && socket.startsWith("/") && !isOwnSocket(socket, ownSocket)) {
        return unsupported(`config socket ${socket} is not this router's (${ownSocket})`);
      }
    } catch {
      // not JSON: runPlugin reports it
    }
    let stderr = "";
    const deps: PluginDeps = {
      ...defaultDeps,
      ...opts.deps,
      connect: async () => port,
      log: (msg) => { stderr += `weft-cni: ${msg}\n`; },
    };
    const t0 = process.hrtime.bigint();
    const out = await runPlugin(req.env, stdin, deps);
    opts.onServed?.({ command: req.env.CNI_COMMAND ?? "", exitCode: out.exitCode, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
    return { status: CniAnswerStatus.Done, stdout: out.stdout, stderr: out.stderr + stderr, exitCode: out.exitCode };
  };

  const serve = (s: Socket): void => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => s.destroy());
    s.setTimeout(REQUEST_TIMEOUT_MS, () => s.destroy());
    let chunks: Buffer[] = [];
    let received = 0;
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      received += chunk.length;
      const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
      chunks = [buf];
      const p = parseCniRequest(buf);
      if (p.kind === "incomplete") return;
      s.off("data", onData);
      s.setTimeout(0);
      const answered = (p.kind === "bad" ? Promise.resolve(unsupported(p.reason)) : handle(p.request))
        .catch((e: unknown) => unsupported(`internal: ${(e as Error)?.message ?? String(e)}`))
        .then((a) => {
          if (a.status === CniAnswerStatus.Done) stats.served++;
          else stats.declined++;
          if (!s.destroyed) s.end(encodeCniAnswer(a));
        });
      inflight.add(answered);
      void answered.finally(() => inflight.delete(answered));
    };
    s.on("data", onData);
  };

  const server: Server = createServer(serve);
  const listening = new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.once("listening", () => { server.off("error", reject); resolve(); });
  });
  // listen() binds a path synchronously: a umask around the call leaves no window in which
  // others could connect (chmod follows anyway; worker threads cannot set the umask)
  let oldMask: number | undefined;
  try { oldMask = process.umask(0o177); } catch { /* not allowed here */ }
  try {
    server.listen(path);
  } finally {
    if (oldMask !== undefined) process.umask(oldMask);
  }
  await listening;
  chmodSync(path, 0o600);

  return {
    path,
    stats,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.allSettled([...inflight]);
      for (const s of sockets) s.destroy();
      await closed;
      try { unlinkSync(path); } catch { /* gone */ }
    },
  };
}
