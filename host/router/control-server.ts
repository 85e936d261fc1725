// The control socket: a Unix stream socket (mode 0600, root only) serving the ops of
// host/control/protocol.ts against a Router. One request at a time per connection, answered in
// order; a broken frame closes the connection after an id-0 error.
import { createServer, createConnection, type Server, type Socket } from "node:net";
import { chmodSync, existsSync, mkdirSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { FrameDecoder, encodeFrame, parseRequest, ProtocolError, type Request, type WireError } from "../control/protocol.ts";
import { Router, RouterOpError } from "./router.ts";

export class ControlServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  private constructor(readonly path: string, private readonly router: Router) {
    this.server = createServer((s) => this.serve(s));
  }

  /** Listens on `path`; refuses when another router answers there, replaces a stale socket file. */
  static async listen(path: string, router: Router): Promise<ControlServer> {
    await claimSocketPath(path, "router");
    const cs = new ControlServer(path, router);
    await new Promise<void>((resolve, reject) => {
      cs.server.once("error", reject);
      cs.server.listen(path, () => resolve());
    });
    chmodSync(path, 0o600);
    return cs;
  }

  private serve(s: Socket): void {
    this.sockets.add(s);
    s.on("close", () => this.sockets.delete(s));
    s.on("error", () => s.destroy());
    const dec = new FrameDecoder();
    s.on("data", (chunk: Buffer) => {
      let bodies: unknown[];
      try { bodies = dec.push(chunk); } catch (e) {
        const code = e instanceof ProtocolError && e.code === "FRAME_TOO_LARGE" ? "FRAME_TOO_LARGE" : "BAD_REQUEST";
        s.end(encodeFrame({ id: 0, ok: false, error: { code, message: (e as Error).message } }));
        return;
      }
      for (const b of bodies) {
        const p = parseRequest(b);
        const reply = p.ok ? this.handle(p.request) : { id: p.id, ok: false, error: p.error };
        try { s.write(encodeFrame(reply)); } catch (e) {
          s.write(encodeFrame({ id: (reply as { id: number }).id, ok: false, error: { code: "INTERNAL", message: (e as Error).message } }));
        }
      }
    });
  }

  private handle(req: Request): { id: number; ok: true; result: unknown } | { id: number; ok: false; error: WireError } {
    const r = this.router;
    const a = req.args as never;
    try {
      let result: unknown;
      switch (req.op) {
        case "status": result = r.status(); break;
        case "attachPod": result = r.attachPod(a); break;
        case "detachPod": result = r.detachPod(a); break;
        case "listPods": result = r.listPods(); break;
        case "routes": result = r.routes(); break;
        case "peers": result = r.peers(); break;
        case "counters": result = r.counters(); break;
        case "addPeer": result = r.addPeer(a); break;
        case "removePeer": result = r.removePeer(a); break;
        case "addRoute": result = r.addRoute(a); break;
        case "removeRoute": result = r.removeRoute(a); break;
        default: return { id: req.id, ok: false, error: { code: "UNKNOWN_OP", message: `unknown op ${String(req.op)}` } };
      }
      return { id: req.id, ok: true, result: stripUndefined(result) };
    } catch (e) {
      const code = e instanceof RouterOpError ? e.code : "INTERNAL";
      return { id: req.id, ok: false, error: { code, message: (e as Error).message } };
    }
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    try { unlinkSync(this.path); } catch { /* gone */ }
  }
}

/**
 * Makes `path` ready for a Unix socket server: its directory exists, and a socket file left by a
 * dead server is removed. Throws when a live server (`what`) still answers there.
 */
export async function claimSocketPath(path: string, what: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  if (!existsSync(path)) return;
  const alive = await new Promise<boolean>((resolve) => {
    const c = createConnection(path);
    c.once("connect", () => { c.destroy(); resolve(true); });
    c.once("error", () => resolve(false));
  });
  if (alive) throw new Error(`another ${what} is serving ${path}`);
  unlinkSync(path);
}

/** Optional fields are absent, not undefined (msgpack would encode nil). Shared with the CNI server. */
export function stripUndefined(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripUndefined);
  if (v && typeof v === "object") {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) o[k] = stripUndefined(x);
    return o;
  }
  return v;
}
