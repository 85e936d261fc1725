/**
 * Typed client of the router control protocol (see protocol.ts for the wire format).
 *
 * Design notes
 * ------------
 * One connection, many in-flight requests matched by id. Every call has a deadline
 * (`timeoutMs`) and may be cancelled with an AbortSignal. Failures are typed:
 * - {@link RouterUnavailable}: no router answered: the socket is missing or refuses, connect
 *   or a call timed out, or the connection closed before the answer. `reason` says which.
 *   After `timeout`/`closed` the router may or may not have executed the request.
 * - {@link RouterError}: the router answered with an error (`code` from RouterErrorCode).
 * - {@link ProtocolError}: the bytes made no sense; the connection is closed.
 * - an `AbortError` (DOMException) carrying the signal's reason as `cause`.
 * A timed-out call leaves the connection usable; a late answer to it is dropped.
 */
import { connect as netConnect, type Socket } from 'node:net';
import {
  DEFAULT_MAX_FRAME_BYTES, DEFAULT_SOCKET_PATH, FrameDecoder, ProtocolError, encodeFrame, parseResponse,
  type AddPeerArgs, type AddRouteArgs, type AttachPodArgs, type DetachPodArgs, type OpArgs, type OpName,
  type OpResult, type RemovePeerArgs, type RemoveRouteArgs, type RouterErrorCode,
} from './protocol.ts';

export { ProtocolError };

export type UnavailableReason = 'connect' | 'timeout' | 'closed';

export class RouterUnavailable extends Error {
  override name = 'RouterUnavailable';
  constructor(
    message: string,
    readonly reason: UnavailableReason,
    readonly socketPath: string,
    /** errno code of the connect failure (ENOENT, ECONNREFUSED, EACCES, ...), if any. */
    readonly errno?: string,
  ) {
    super(message);
  }
}

export class RouterError extends Error {
  override name = 'RouterError';
  constructor(readonly code: RouterErrorCode | (string & {}), message: string, readonly op: OpName | null) {
    super(message);
  }
}

export interface ConnectOptions {
  socketPath?: string;
  /** Connect deadline in ms (default 2000). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Largest response body accepted (default 1 MiB). */
  maxFrameBytes?: number;
  /** Default deadline of calls in ms (default 30000). */
  callTimeoutMs?: number;
}

export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

interface Pending {
  op: OpName;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  cleanup: () => void;
}

function abortError(signal: AbortSignal): Error {
  const e = new DOMException('the operation was aborted', 'AbortError');
  (e as { cause?: unknown }).cause = signal.reason;
  return e;
}

export class RouterClient {
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private closedError: Error | null = null;
  private decoder: FrameDecoder;

  private constructor(
    private socket: Socket,
    readonly socketPath: string,
    private callTimeoutMs: number,
    maxFrameBytes: number,
  ) {
    this.decoder = new FrameDecoder(maxFrameBytes);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.shutdown(new RouterUnavailable(`router connection failed: ${err.message}`, 'closed', socketPath, err.code));
    });
    socket.on('close', () => {
      this.shutdown(new RouterUnavailable('router closed the connection', 'closed', socketPath));
    });
  }

  /** Connect to the router's socket. Rejects with RouterUnavailable or an AbortError. */
  static connect(opts: ConnectOptions = {}): Promise<RouterClient> {
    const socketPath = opts.socketPath ?? DEFAULT_SOCKET_PATH;
    const timeoutMs = opts.timeoutMs ?? 2000;
    const { signal } = opts;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(signal));
      const socket = netConnect({ path: socketPath });
      let settled = false;
      const finish = (err: Error | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.removeListener('error', onError);
        socket.removeListener('connect', onConnect);
        if (err) {
          socket.destroy();
          reject(err);
        } else {
          resolve(new RouterClient(socket, socketPath, opts.callTimeoutMs ?? 30000, opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES));
        }
      };
      const onAbort = () => finish(abortError(signal!));
      const onError = (err: NodeJS.ErrnoException) =>
        finish(new RouterUnavailable(`cannot connect to router at ${socketPath}: ${err.code ?? err.message}`, 'connect', socketPath, err.code));
      const onConnect = () => finish(null);
      const timer = setTimeout(
        () => finish(new RouterUnavailable(`connect to router at ${socketPath} timed out after ${timeoutMs} ms`, 'timeout', socketPath)),
        timeoutMs,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('error', onError);
      socket.once('connect', onConnect);
    });
  }

  /** True until the connection failed or {@link close} was called. */
  get connected(): boolean {
    return this.closedError === null;
  }

  /** Send one request and await its answer. */
  call<O extends OpName>(op: O, args: OpArgs<O>, opts: CallOptions = {}): Promise<OpResult<O>> {
    if (this.closedError) return Promise.reject(this.closedError);
    const { signal } = opts;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const id = this.nextId++;
    if (this.nextId > 0x7fffffff) this.nextId = 1;
    let frame: Uint8Array;
    try {
      frame = encodeFrame({ id, op, args });
    } catch (e) {
      return Promise.reject(e);
    }
    const timeoutMs = opts.timeoutMs ?? this.callTimeoutMs;
    return new Promise<OpResult<O>>((resolve, reject) => {
      const onAbort = () => {
        this.pending.get(id)?.cleanup();
        reject(abortError(signal!));
      };
      const timer = setTimeout(() => {
        this.pending.get(id)?.cleanup();
        reject(new RouterUnavailable(`router did not answer ${op} within ${timeoutMs} ms`, 'timeout', this.socketPath));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.pending.delete(id);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, { op, resolve: resolve as (v: unknown) => void, reject, cleanup });
      this.socket.write(frame);
    });
  }

  status(opts?: CallOptions) { return this.call('status', {}, opts); }
  attachPod(args: AttachPodArgs, opts?: CallOptions) { return this.call('attachPod', args, opts); }
  detachPod(args: DetachPodArgs, opts?: CallOptions) { return this.call('detachPod', args, opts); }
  listPods(opts?: CallOptions) { return this.call('listPods', {}, opts); }
  routes(opts?: CallOptions) { return this.call('routes', {}, opts); }
  peers(opts?: CallOptions) { return this.call('peers', {}, opts); }
  counters(opts?: CallOptions) { return this.call('counters', {}, opts); }
  addPeer(args: AddPeerArgs, opts?: CallOptions) { return this.call('addPeer', args, opts); }
  removePeer(args: RemovePeerArgs, opts?: CallOptions) { return this.call('removePeer', args, opts); }
  addRoute(args: AddRouteArgs, opts?: CallOptions) { return this.call('addRoute', args, opts); }
  removeRoute(args: RemoveRouteArgs, opts?: CallOptions) { return this.call('removeRoute', args, opts); }

  /** Close the connection; pending calls reject with RouterUnavailable('closed'). */
  close(): void {
    this.shutdown(new RouterUnavailable('client closed the connection', 'closed', this.socketPath));
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    let bodies: unknown[];
    try {
      bodies = this.decoder.push(chunk);
    } catch (e) {
      this.shutdown(e as Error);
      this.socket.destroy();
      return;
    }
    for (const body of bodies) {
      let res;
      try {
        res = parseResponse(body);
      } catch (e) {
        this.shutdown(e as Error);
        this.socket.destroy();
        return;
      }
      if (res.id === 0 && !res.ok) {
        // connection-level error from the server: fail everything
        this.shutdown(new RouterError(res.error.code, res.error.message, null));
        this.socket.destroy();
        return;
      }
      const p = this.pending.get(res.id);
      if (!p) continue; // answer to a call that timed out or was aborted
      p.cleanup();
      if (res.ok) p.resolve(res.result);
      else p.reject(new RouterError(res.error.code, res.error.message, p.op));
    }
  }

  private shutdown(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    for (const p of [...this.pending.values()]) {
      p.cleanup();
      p.reject(err);
    }
  }
}

/** Connect, run `fn`, close. */
export async function withRouter<T>(opts: ConnectOptions, fn: (c: RouterClient) => Promise<T>): Promise<T> {
  const c = await RouterClient.connect(opts);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}
