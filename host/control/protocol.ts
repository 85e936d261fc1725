/**
 * Weft router control protocol: message types for every op, and the framing codec.
 *
 * Design notes
 * ------------
 * Transport: a Unix stream socket (default `/run/weft/weft.sock`, mode 0600, root only).
 * Both directions carry frames:
 *
 *     +--------------------------------+------------------------------+
 *     | length: u32 big-endian (bytes) | body: one MessagePack value  |
 *     +--------------------------------+------------------------------+
 *
 * `length` counts the body only; 0 is invalid, and a frame longer than the receiver's limit
 * (default {@link DEFAULT_MAX_FRAME_BYTES}) is a protocol error: the receiver answers with
 * `FRAME_TOO_LARGE` (if it is the server) and closes the connection, because it cannot
 * resynchronise.
 *
 * Bodies are standard MessagePack (maps with string keys, no extension types). They are what
 * msgpackr produces with `useRecords: false` (its default `pack`), and msgpackr's `unpack`
 * reads what {@link encodeBody} writes; `test/control-protocol.test.ts` checks both directions.
 * The codec below is our own small one so that the CNI plugin, a process started per
 * container, does not pay msgpackr's load time (~10 ms); the router may use either.
 *
 * Requests:  `{id, op, args}`   id: positive integer, unique among a connection's in-flight requests
 * Responses: `{id, ok: true, result}` | `{id, ok: false, error: {code, message}}`
 * A server may answer requests of one connection out of order; clients match on `id`. A
 * response with `id: 0` reports an error not attributable to a request (undecodable frame);
 * the server closes the connection after sending it.
 *
 * Addresses are strings: IPs without prefix (`10.244.1.1`, `fd00:10:244:1::1`), prefixes in
 * CIDR form (`10.244.1.0/24`), MACs as `aa:bb:cc:dd:ee:ff` in lower case. Optional fields are
 * absent (not null) when unset; decoders accept null for absent.
 *
 * Versioning: `status.protocolVersion`; additive changes (new ops, new optional fields) do
 * not bump it. Receivers ignore fields they do not know.
 */

// ---------------------------------------------------------------------------------------------
// constants
// ---------------------------------------------------------------------------------------------

export const PROTOCOL_VERSION = 1;
export const DEFAULT_SOCKET_PATH = '/run/weft/weft.sock';
export const FRAME_HEADER_BYTES = 4;
/** Default upper bound of one frame body; both sides enforce their own limit. */
export const DEFAULT_MAX_FRAME_BYTES = 1 << 20;
/** Hard ceiling: a length prefix above this is never valid whatever the configured limit. */
export const ABSOLUTE_MAX_FRAME_BYTES = 0x7fffffff;

// ---------------------------------------------------------------------------------------------
// shared shapes
// ---------------------------------------------------------------------------------------------

/** A route handed to a pod: destination CIDR, optional gateway IP (absent = on-link). */
export interface PodRoute {
  dst: string;
  gw?: string;
}

export interface MtuInfo {
  /** MTU of the underlay interface the router encapsulates onto. */
  underlay: number;
  /** MTU given to pod interfaces (underlay minus encapsulation overhead unless configured). */
  pod: number;
}

export interface Peer {
  /** Node name of the peer; unique key. */
  name: string;
  /** Underlay (node) IP the tunnel is sent to. */
  underlay: string;
  /** Pod CIDRs served by that node. */
  podCIDRs: string[];
  /** MAC of the peer's VTEP (inner destination MAC for encapsulated frames). */
  vtepMac: string;
}

/** Where the router sends packets for a destination prefix. */
export type RouteTarget =
  | { kind: 'pod'; containerId: string; ifName: string }
  | { kind: 'peer'; peer: string }
  | { kind: 'host' }
  | { kind: 'blackhole' };

export interface RouteEntry {
  /** Destination CIDR. */
  dst: string;
  target: RouteTarget;
  /** `pod`/`peer` routes the router derived itself vs routes added with `addRoute`. */
  origin: 'auto' | 'static';
}

/** One pod attachment as the router knows it. */
export interface PodAttachment {
  containerId: string;
  ifName: string;
  /** netns path given on attach (may no longer exist). */
  netns: string;
  /** CNI network name given on attach, if any. */
  network?: string;
  /** As configured in the pod: `a.b.c.d/32`. */
  ipv4?: string;
  /** As configured in the pod: `x::y/128`. */
  ipv6?: string;
  mac: string;
  /** The router's data-plane port index of this attachment. */
  port: number;
  /** Set when the pod's interface was deleted under the router (its traffic is dropped until detachPod). */
  deviceGone?: boolean;
}

// ---------------------------------------------------------------------------------------------
// ops
// ---------------------------------------------------------------------------------------------

export type EmptyArgs = Record<string, never>;

export interface StatusResult {
  protocolVersion: number;
  nodeName: string;
  uptimeSeconds: number;
  /** `vxlan` or `geneve`. */
  encapsulation: string;
  vni: number;
  /** UDP port of the encapsulation. */
  port: number;
  mtu: MtuInfo;
  /** This node's pod CIDRs, at most one IPv4 and one IPv6 in practice (IPAM allocates from them). */
  podCIDRs: string[];
  clusterCIDRs: string[];
  /** Pod gateway addresses (no prefix): the first address of the IPv4 / IPv6 pod CIDR. */
  gateway4?: string;
  gateway6?: string;
  counts: { pods: number; peers: number; routes: number };
  /** As GET /healthz answers: ok, or the problems (not running, a worker that does not answer, the host interface missing). */
  health?: { ok: boolean; problems: string[] };
  /** Where the router keeps what it was told at run time (control.stateFile), if anywhere. */
  stateFile?: string;
}

/**
 * Attach a pod: create a TAP, move it into `netns` named `ifName`, set MAC and MTU, add
 * `ipv4` as /32 and `ipv6` as /128 (the prefix length in the request is the pod CIDR's and
 * only informs the router), add an on-link route to each gateway and a default route via
 * it, bring the link up, program the data plane.
 *
 * Idempotent for the same (containerId, ifName) with the same arguments: returns the existing
 * attachment. Errors: `NETNS_NOT_FOUND` (netns path missing), `IF_EXISTS` (ifName exists in the
 * netns and is not this attachment), `CONFLICT` (same key with other addresses, or an address
 * attached to another key), `BAD_REQUEST`.
 */
export interface AttachPodArgs {
  containerId: string;
  ifName: string;
  /** Path of the pod's netns (`/run/netns/x`, `/proc/<pid>/ns/net`). */
  netns: string;
  /** `a.b.c.d/len`, len = pod CIDR prefix length. */
  ipv4?: string;
  /** `x::y/len`, len = pod CIDR prefix length. */
  ipv6?: string;
  /** Requested MTU; absent = `status.mtu.pod`. */
  mtu?: number;
  /** CNI network name; lets GC of one network leave others' attachments alone. */
  network?: string;
  /** Informational (from CNI_ARGS K8S_POD_NAMESPACE / K8S_POD_NAME). */
  podNamespace?: string;
  podName?: string;
}

export interface AttachPodResult {
  /**
   * Host-side kernel interface of the attachment, if it has one (a veth peer); empty string
   * when the pod interface is a TAP whose other end is the router itself.
   */
  hostIfName: string;
  /** MAC of the pod interface. */
  mac: string;
  mtu: number;
  /** Echo of the netns path. */
  sandbox: string;
  gateway4?: string;
  gateway6?: string;
  /** Routes configured in the pod (typically `0.0.0.0/0` via gateway4, `::/0` via gateway6). */
  routes: PodRoute[];
}

/**
 * Detach a pod: remove the data-plane port and the interface (if the netns still exists).
 * Idempotent: `existed: false` when the router has no such attachment. `netns` is a hint
 * (CNI DEL may pass an empty one): a router that lost its state may use it to delete a
 * leftover interface.
 */
export interface DetachPodArgs {
  containerId: string;
  ifName: string;
  netns?: string;
}
export interface DetachPodResult {
  existed: boolean;
}

export interface ListPodsResult {
  pods: PodAttachment[];
}
export interface RoutesResult {
  routes: RouteEntry[];
}
export interface PeerEntry extends Peer {
  /** Where the router has it from: the node config, or the control socket (addPeer). */
  origin?: 'config' | 'control';
}
export interface PeersResult {
  peers: PeerEntry[];
}
export interface CountersResult {
  /** Counter name (e.g. `rx_packets`, `drop.bad_vxlan_flags`) → value since start. */
  counters: Record<string, number>;
}

/** Insert or replace a peer (key: name). */
export type AddPeerArgs = Peer;
export interface AddPeerResult {
  /** false when a peer of that name existed and was replaced. */
  created: boolean;
}
export interface RemovePeerArgs {
  name: string;
}
export interface RemovePeerResult {
  existed: boolean;
}

/** Add a static route; `pod` targets are rejected (pod routes follow attachments). */
export interface AddRouteArgs {
  dst: string;
  target: Exclude<RouteTarget, { kind: 'pod' }>;
}
export interface AddRouteResult {
  /** false when an identical static route existed. */
  created: boolean;
}
export interface RemoveRouteArgs {
  dst: string;
}
export interface RemoveRouteResult {
  existed: boolean;
}

/** Every op: its argument and result types. The router implements exactly these. */
export interface Ops {
  status: { args: EmptyArgs; result: StatusResult };
  attachPod: { args: AttachPodArgs; result: AttachPodResult };
  detachPod: { args: DetachPodArgs; result: DetachPodResult };
  listPods: { args: EmptyArgs; result: ListPodsResult };
  routes: { args: EmptyArgs; result: RoutesResult };
  peers: { args: EmptyArgs; result: PeersResult };
  counters: { args: EmptyArgs; result: CountersResult };
  addPeer: { args: AddPeerArgs; result: AddPeerResult };
  removePeer: { args: RemovePeerArgs; result: RemovePeerResult };
  addRoute: { args: AddRouteArgs; result: AddRouteResult };
  removeRoute: { args: RemoveRouteArgs; result: RemoveRouteResult };
}
export type OpName = keyof Ops;
export type OpArgs<O extends OpName> = Ops[O]['args'];
export type OpResult<O extends OpName> = Ops[O]['result'];

export const OP_NAMES: readonly OpName[] = [
  'status', 'attachPod', 'detachPod', 'listPods', 'routes', 'peers', 'counters',
  'addPeer', 'removePeer', 'addRoute', 'removeRoute',
];

export function isOpName(op: unknown): op is OpName {
  return typeof op === 'string' && (OP_NAMES as readonly string[]).includes(op);
}

// ---------------------------------------------------------------------------------------------
// envelopes and errors
// ---------------------------------------------------------------------------------------------

/**
 * Error codes a router returns. Clients must treat unknown codes like `INTERNAL`.
 * - BAD_REQUEST      malformed envelope or arguments (message names the field)
 * - UNKNOWN_OP       op not implemented by this router
 * - NOT_FOUND        the object named by the args does not exist (where not idempotent)
 * - CONFLICT         the request contradicts existing state (address in use by another key, ...)
 * - NETNS_NOT_FOUND  the netns path does not exist
 * - IF_EXISTS        the interface name already exists in the netns and is not ours
 * - BUSY             transient: retry later (e.g. data plane restarting)
 * - FRAME_TOO_LARGE  a frame exceeded the receiver's limit (sent with id 0; connection closes)
 * - INTERNAL         anything else
 */
export type RouterErrorCode =
  | 'BAD_REQUEST' | 'UNKNOWN_OP' | 'NOT_FOUND' | 'CONFLICT' | 'NETNS_NOT_FOUND'
  | 'IF_EXISTS' | 'BUSY' | 'FRAME_TOO_LARGE' | 'INTERNAL';

export interface WireError {
  code: RouterErrorCode | (string & {});
  message: string;
}

export interface Request<O extends OpName = OpName> {
  id: number;
  op: O;
  args: OpArgs<O>;
}
export type Response<O extends OpName = OpName> =
  | { id: number; ok: true; result: OpResult<O> }
  | { id: number; ok: false; error: WireError };

/** Thrown by the decoders on bytes that break the framing or body rules. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
  constructor(message: string, readonly code: 'FRAME_TOO_LARGE' | 'BAD_FRAME' | 'BAD_BODY' = 'BAD_FRAME') {
    super(message);
  }
}

/**
 * Check a decoded body is a request envelope (for the server). Returns the request or a
 * `BAD_REQUEST`/`UNKNOWN_OP` error to send back (id 0 when no usable id was present).
 * Argument contents are checked with {@link validateArgs}.
 */
export function parseRequest(body: unknown): { ok: true; request: Request } | { ok: false; id: number; error: WireError } {
  if (!isRecord(body)) return { ok: false, id: 0, error: { code: 'BAD_REQUEST', message: 'request must be a map' } };
  const id = body.id;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) {
    return { ok: false, id: 0, error: { code: 'BAD_REQUEST', message: 'request id must be a positive integer' } };
  }
  if (typeof body.op !== 'string') return { ok: false, id, error: { code: 'BAD_REQUEST', message: 'op must be a string' } };
  if (!isOpName(body.op)) return { ok: false, id, error: { code: 'UNKNOWN_OP', message: `unknown op '${body.op}'` } };
  const args = body.args ?? {};
  if (!isRecord(args)) return { ok: false, id, error: { code: 'BAD_REQUEST', message: 'args must be a map' } };
  const problem = validateArgs(body.op, args);
  if (problem) return { ok: false, id, error: { code: 'BAD_REQUEST', message: problem } };
  return { ok: true, request: { id, op: body.op, args: args as never } };
}

/** Check a decoded body is a response envelope (for the client). */
export function parseResponse(body: unknown): Response {
  if (!isRecord(body) || typeof body.id !== 'number' || typeof body.ok !== 'boolean') {
    throw new ProtocolError('response must be a map with numeric id and boolean ok', 'BAD_BODY');
  }
  if (body.ok) return { id: body.id, ok: true, result: (body.result ?? {}) as never };
  const e = body.error;
  if (!isRecord(e)) return { id: body.id, ok: false, error: { code: 'INTERNAL', message: 'error response without error' } };
  return {
    id: body.id,
    ok: false,
    error: { code: typeof e.code === 'string' ? e.code : 'INTERNAL', message: typeof e.message === 'string' ? e.message : '' },
  };
}

type FieldRule = 'string' | 'string?' | 'number?' | 'strings' | 'target';
const ARG_RULES: { [O in OpName]: Record<string, FieldRule> } = {
  status: {},
  attachPod: {
    containerId: 'string', ifName: 'string', netns: 'string', ipv4: 'string?', ipv6: 'string?',
    mtu: 'number?', network: 'string?', podNamespace: 'string?', podName: 'string?',
  },
  detachPod: { containerId: 'string', ifName: 'string', netns: 'string?' },
  listPods: {},
  routes: {},
  peers: {},
  counters: {},
  addPeer: { name: 'string', underlay: 'string', podCIDRs: 'strings', vtepMac: 'string' },
  removePeer: { name: 'string' },
  addRoute: { dst: 'string', target: 'target' },
  removeRoute: { dst: 'string' },
};

/**
 * Shape check of an op's args (types and presence only; address syntax and semantics are the
 * router's business). Returns a message naming the first bad field, or null. Unknown fields
 * are allowed (forward compatibility).
 */
export function validateArgs(op: OpName, args: Record<string, unknown>): string | null {
  const rules = ARG_RULES[op];
  for (const [field, rule] of Object.entries(rules)) {
    const v = args[field];
    const absent = v === undefined || v === null;
    switch (rule) {
      case 'string':
        if (typeof v !== 'string' || v === '') return `${op}: ${field} must be a non-empty string`;
        break;
      case 'string?':
        if (!absent && typeof v !== 'string') return `${op}: ${field} must be a string`;
        break;
      case 'number?':
        if (!absent && (typeof v !== 'number' || !Number.isInteger(v))) return `${op}: ${field} must be an integer`;
        break;
      case 'strings':
        if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) return `${op}: ${field} must be an array of strings`;
        break;
      case 'target': {
        if (!isRecord(v) || typeof v.kind !== 'string') return `${op}: ${field} must be a map with a kind`;
        if (v.kind === 'peer' && typeof v.peer !== 'string') return `${op}: ${field}.peer must be a string`;
        if (!['peer', 'host', 'blackhole'].includes(v.kind)) return `${op}: ${field}.kind must be peer, host or blackhole`;
        break;
      }
    }
  }
  return null;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

// ---------------------------------------------------------------------------------------------
// framing
// ---------------------------------------------------------------------------------------------

/** One frame: header + MessagePack body of `value`. Throws if the body exceeds `maxFrameBytes`. */
export function encodeFrame(value: unknown, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): Uint8Array {
  const enc = new Encoder(256);
  enc.pos = FRAME_HEADER_BYTES;
  enc.value(value);
  const bodyLength = enc.pos - FRAME_HEADER_BYTES;
  if (bodyLength > maxFrameBytes) {
    throw new ProtocolError(`frame body of ${bodyLength} bytes exceeds the limit of ${maxFrameBytes}`, 'FRAME_TOO_LARGE');
  }
  enc.view.setUint32(0, bodyLength);
  return enc.buf.subarray(0, enc.pos);
}

/**
 * Incremental frame decoder: feed it stream chunks in order with {@link push}; it returns the
 * bodies of all frames completed so far (a chunk may hold part of a frame or many frames).
 * After a {@link ProtocolError} the decoder is failed and keeps throwing: the stream cannot be
 * resynchronised, so the connection must be closed.
 */
export class FrameDecoder {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private failure: ProtocolError | null = null;

  constructor(readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {
    if (!(maxFrameBytes > 0 && maxFrameBytes <= ABSOLUTE_MAX_FRAME_BYTES)) throw new RangeError('bad maxFrameBytes');
  }

  /** Bytes buffered for an incomplete frame. */
  get buffered(): number {
    return this.pendingBytes;
  }

  push(chunk: Uint8Array): unknown[] {
    if (this.failure) throw this.failure;
    if (chunk.length === 0) return [];
    let buf: Uint8Array;
    if (this.pendingBytes === 0) buf = chunk;
    else {
      buf = new Uint8Array(this.pendingBytes + chunk.length);
      let o = 0;
      for (const p of this.pending) { buf.set(p, o); o += p.length; }
      buf.set(chunk, o);
      this.pending = [];
      this.pendingBytes = 0;
    }
    const out: unknown[] = [];
    let off = 0;
    while (buf.length - off >= FRAME_HEADER_BYTES) {
      const len = ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
      if (len === 0) throw this.fail(new ProtocolError('zero-length frame'));
      if (len > this.maxFrameBytes) {
        throw this.fail(new ProtocolError(`frame of ${len} bytes exceeds the limit of ${this.maxFrameBytes}`, 'FRAME_TOO_LARGE'));
      }
      if (buf.length - off - FRAME_HEADER_BYTES < len) break;
      const start = off + FRAME_HEADER_BYTES;
      try {
        out.push(decodeBody(buf.subarray(start, start + len)));
      } catch (e) {
        throw this.fail(e instanceof ProtocolError ? e : new ProtocolError(String(e), 'BAD_BODY'));
      }
      off = start + len;
    }
    if (off < buf.length) {
      // keep a copy: the caller may reuse its chunk buffer (Buffer#slice would be a view)
      const rest = copyBytes(buf, off, buf.length);
      this.pending.push(rest);
      this.pendingBytes = rest.length;
    }
    return out;
  }

  private fail(e: ProtocolError): ProtocolError {
    this.failure = e;
    this.pending = [];
    this.pendingBytes = 0;
    return e;
  }
}

/** A copy of bytes [start, end) as a plain Uint8Array, also when `b` is a Node Buffer. */
function copyBytes(b: Uint8Array, start: number, end: number): Uint8Array {
  return Uint8Array.prototype.slice.call(b, start, end);
}

// ---------------------------------------------------------------------------------------------
// MessagePack body codec (standard format, the subset JSON-like values need)
// ---------------------------------------------------------------------------------------------
//
// Encodes: null/undefined → nil; booleans; integers in [-2^31, 2^32) → the smallest int
// format; other numbers → float64 (exact for safe integers; msgpackr decodes 64-bit ints to
// bigint, so they are kept for bigint values); bigint → int64/uint64; strings → str; Uint8Array → bin;
// arrays → array; plain objects → map with string keys, skipping undefined values.
// Decodes every standard format; int64/uint64 outside the safe range → bigint; bin →
// Uint8Array; the msgpackr `undefined` ext (fixext1 type 0) → undefined; other ext → error.

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });
const MAX_DEPTH = 64;

class Encoder {
  buf: Uint8Array;
  view: DataView;
  pos = 0;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }
  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  private u8(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }
  private head(tag: number, width: 1 | 2 | 4 | 8, n: number | bigint): void {
    this.ensure(1 + width);
    this.buf[this.pos++] = tag;
    if (width === 1) this.buf[this.pos] = Number(n);
    else if (width === 2) this.view.setUint16(this.pos, Number(n));
    else if (width === 4) this.view.setUint32(this.pos, Number(n));
    else this.view.setBigUint64(this.pos, BigInt.asUintN(64, BigInt(n)));
    this.pos += width;
  }
  value(v: unknown, depth = 0): void {
    if (depth > MAX_DEPTH) throw new ProtocolError('value nested too deeply', 'BAD_BODY');
    switch (typeof v) {
      case 'undefined':
        return this.u8(0xc0);
      case 'boolean':
        return this.u8(v ? 0xc3 : 0xc2);
      case 'number':
        return this.number(v);
      case 'bigint':
        if (v >= 0n) {
          if (v > 0xffffffffffffffffn) throw new ProtocolError('bigint out of uint64 range', 'BAD_BODY');
          return this.head(0xcf, 8, v);
        }
        if (v < -0x8000000000000000n) throw new ProtocolError('bigint out of int64 range', 'BAD_BODY');
        return this.head(0xd3, 8, v);
      case 'string':
        return this.string(v);
      case 'object': {
        if (v === null) return this.u8(0xc0);
        if (v instanceof Uint8Array) {
          const n = v.length;
          if (n < 0x100) this.head(0xc4, 1, n);
          else if (n < 0x10000) this.head(0xc5, 2, n);
          else this.head(0xc6, 4, n);
          this.ensure(n);
          this.buf.set(v, this.pos);
          this.pos += n;
          return;
        }
        if (Array.isArray(v)) {
          const n = v.length;
          if (n < 16) this.u8(0x90 | n);
          else if (n < 0x10000) this.head(0xdc, 2, n);
          else this.head(0xdd, 4, n);
          for (const item of v) this.value(item, depth + 1);
          return;
        }
        const proto = Object.getPrototypeOf(v);
        if (proto !== Object.prototype && proto !== null) {
          throw new ProtocolError(`cannot encode ${(v as object).constructor?.name ?? 'object'}`, 'BAD_BODY');
        }
        const keys = Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined);
        const n = keys.length;
        if (n < 16) this.u8(0x80 | n);
        else if (n < 0x10000) this.head(0xde, 2, n);
        else this.head(0xdf, 4, n);
        for (const k of keys) {
          this.string(k);
          this.value((v as Record<string, unknown>)[k], depth + 1);
        }
        return;
      }
      default:
        throw new ProtocolError(`cannot encode a ${typeof v}`, 'BAD_BODY');
    }
  }
  private number(v: number): void {
    if (Number.isInteger(v) && v >= -0x80000000 && v < 0x100000000 && !Object.is(v, -0)) {
      if (v >= 0) {
        if (v < 0x80) return this.u8(v);
        if (v < 0x100) return this.head(0xcc, 1, v);
        if (v < 0x10000) return this.head(0xcd, 2, v);
        return this.head(0xce, 4, v);
      }
      if (v >= -32) return this.u8(v & 0xff);
      if (v >= -0x80) return this.head(0xd0, 1, v & 0xff);
      if (v >= -0x8000) return this.head(0xd1, 2, v & 0xffff);
      return this.head(0xd2, 4, v >>> 0);
    }
    this.ensure(9);
    this.buf[this.pos++] = 0xcb;
    this.view.setFloat64(this.pos, v);
    this.pos += 8;
  }
  private string(s: string): void {
    // worst case 3 bytes per UTF-16 unit; encode into place after a maximal header
    const max = s.length * 3;
    this.ensure(5 + max);
    let hdr: number;
    if (max < 32) hdr = 1;
    else if (max < 0x100) hdr = 2;
    else if (max < 0x10000) hdr = 3;
    else hdr = 5;
    const { written } = textEncoder.encodeInto(s, this.buf.subarray(this.pos + hdr));
    const n = written ?? 0;
    // shrink the header if the byte length fits a smaller form
    let need: number;
    if (n < 32) need = 1;
    else if (n < 0x100) need = 2;
    else if (n < 0x10000) need = 3;
    else need = 5;
    if (need !== hdr) this.buf.copyWithin(this.pos + need, this.pos + hdr, this.pos + hdr + n);
    if (need === 1) this.buf[this.pos] = 0xa0 | n;
    else if (need === 2) { this.buf[this.pos] = 0xd9; this.buf[this.pos + 1] = n; }
    else if (need === 3) { this.buf[this.pos] = 0xda; this.view.setUint16(this.pos + 1, n); }
    else { this.buf[this.pos] = 0xdb; this.view.setUint32(this.pos + 1, n); }
    this.pos += need + n;
  }
}

/** MessagePack encoding of `value` (no frame header). */
export function encodeBody(value: unknown): Uint8Array {
  const enc = new Encoder(128);
  enc.value(value);
  return enc.buf.slice(0, enc.pos);
}

/** Decode exactly one MessagePack value filling `bytes`; throws ProtocolError otherwise. */
export function decodeBody(bytes: Uint8Array): unknown {
  const d = new Decoder(bytes);
  const v = d.value(0);
  if (d.pos !== bytes.length) throw new ProtocolError(`${bytes.length - d.pos} trailing bytes after body`, 'BAD_BODY');
  return v;
}

class Decoder {
  pos = 0;
  private view: DataView;
  constructor(private buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number): number {
    if (this.pos + n > this.buf.length) throw new ProtocolError('truncated body', 'BAD_BODY');
    const p = this.pos;
    this.pos += n;
    return p;
  }
  private str(n: number): string {
    const p = this.need(n);
    try {
      return textDecoder.decode(this.buf.subarray(p, p + n));
    } catch {
      throw new ProtocolError('invalid UTF-8 in string', 'BAD_BODY');
    }
  }
  private int64(p: number, signed: boolean): number | bigint {
    const b = signed ? this.view.getBigInt64(p) : this.view.getBigUint64(p);
    return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
  }
  value(depth: number): unknown {
    if (depth > MAX_DEPTH) throw new ProtocolError('body nested too deeply', 'BAD_BODY');
    const t = this.buf[this.need(1)];
    if (t < 0x80) return t;
    if (t < 0x90) return this.map(t & 0x0f, depth);
    if (t < 0xa0) return this.array(t & 0x0f, depth);
    if (t < 0xc0) return this.str(t & 0x1f);
    if (t >= 0xe0) return t - 0x100;
    let p: number;
    switch (t) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return this.bin(this.buf[this.need(1)]);
      case 0xc5: p = this.need(2); return this.bin(this.view.getUint16(p));
      case 0xc6: p = this.need(4); return this.bin(this.view.getUint32(p));
      case 0xca: p = this.need(4); return this.view.getFloat32(p);
      case 0xcb: p = this.need(8); return this.view.getFloat64(p);
      case 0xcc: return this.buf[this.need(1)];
      case 0xcd: p = this.need(2); return this.view.getUint16(p);
      case 0xce: p = this.need(4); return this.view.getUint32(p);
      case 0xcf: p = this.need(8); return this.int64(p, false);
      case 0xd0: p = this.need(1); return this.view.getInt8(p);
      case 0xd1: p = this.need(2); return this.view.getInt16(p);
      case 0xd2: p = this.need(4); return this.view.getInt32(p);
      case 0xd3: p = this.need(8); return this.int64(p, true);
      case 0xd9: return this.str(this.buf[this.need(1)]);
      case 0xda: p = this.need(2); return this.str(this.view.getUint16(p));
      case 0xdb: p = this.need(4); return this.str(this.view.getUint32(p));
      case 0xdc: p = this.need(2); return this.array(this.view.getUint16(p), depth);
      case 0xdd: p = this.need(4); return this.array(this.view.getUint32(p), depth);
      case 0xde: p = this.need(2); return this.map(this.view.getUint16(p), depth);
      case 0xdf: p = this.need(4); return this.map(this.view.getUint32(p), depth);
      case 0xd4: { // fixext 1: msgpackr encodes `undefined` as type 0, data 0
        p = this.need(2);
        if (this.buf[p] === 0 && this.buf[p + 1] === 0) return undefined;
        throw new ProtocolError(`unsupported extension type ${this.view.getInt8(p)}`, 'BAD_BODY');
      }
      case 0xc7: case 0xc8: case 0xc9: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
        throw new ProtocolError(`unsupported extension (0x${t.toString(16)})`, 'BAD_BODY');
      default:
        throw new ProtocolError(`invalid MessagePack byte 0x${t.toString(16)}`, 'BAD_BODY');
    }
  }
  private bin(n: number): Uint8Array {
    const p = this.need(n);
    return copyBytes(this.buf, p, p + n);
  }
  private array(n: number, depth: number): unknown[] {
    if (n > this.buf.length - this.pos) throw new ProtocolError('truncated body', 'BAD_BODY');
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) out[i] = this.value(depth + 1);
    return out;
  }
  private map(n: number, depth: number): Record<string, unknown> {
    if (n * 2 > this.buf.length - this.pos) throw new ProtocolError('truncated body', 'BAD_BODY');
    const out: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const k = this.value(depth + 1);
      if (typeof k !== 'string' && typeof k !== 'number') throw new ProtocolError('map key must be a string', 'BAD_BODY');
      const v = this.value(depth + 1);
      if (v === undefined) continue;
      const key = String(k);
      if (key === '__proto__') Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
      else out[key] = v;
    }
    return out;
  }
}
