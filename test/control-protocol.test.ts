/**
 * Control protocol: MessagePack body codec (incl. interop with msgpackr both ways), framing
 * (partial and coalesced frames, size limits, sticky failure), envelope validation, and the
 * RouterClient against servers that behave and misbehave.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, type Socket, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Packr, pack as msgpackrPack, unpack as msgpackrUnpack } from 'msgpackr';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RouterClient, RouterError, RouterUnavailable } from '../host/control/client.ts';
import {
  DEFAULT_MAX_FRAME_BYTES, FrameDecoder, OP_NAMES, ProtocolError, decodeBody, encodeBody, encodeFrame,
  parseRequest, parseResponse, validateArgs,
} from '../host/control/protocol.ts';
import { FakeRouter } from './fakes/fake-router.ts';

const samples: unknown[] = [
  null, true, false, 0, 1, 127, 128, 255, 256, 65535, 65536, 0xffffffff, 0x100000000, Number.MAX_SAFE_INTEGER,
  -1, -32, -33, -128, -129, -32768, -32769, -0x80000000, -0x80000001, Number.MIN_SAFE_INTEGER,
  0.5, -1.25, 1e300, Number.NaN, Number.POSITIVE_INFINITY,
  '', 'a', 'x'.repeat(31), 'x'.repeat(32), 'y'.repeat(255), 'y'.repeat(256), 'z'.repeat(70000), 'héllo ✓ 𝄞',
  [], [1, 2, 3], new Array(16).fill(7), new Array(70000).fill(0),
  {}, { a: 1 }, Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])),
  { nested: { deep: [{ x: 'y' }, null, [true]] } },
  new Uint8Array([]), new Uint8Array([1, 2, 3]), new Uint8Array(300).fill(9), new Uint8Array(70000).fill(1),
  {
    id: 7, op: 'attachPod',
    args: { containerId: 'abc', ifName: 'eth0', netns: '/run/netns/x', ipv4: '10.0.0.5/24', ipv6: 'fd00::5/64', mtu: 1450 },
  },
];

describe('MessagePack body codec', () => {
  it('round-trips every sample', () => {
    for (const v of samples) expect(decodeBody(encodeBody(v))).toEqual(v);
  });

  it('is read by msgpackr (default unpack and useRecords:false)', () => {
    const u = new Packr({ useRecords: false });
    for (const v of samples) {
      const bytes = encodeBody(v);
      const a = msgpackrUnpack(bytes);
      const b = u.unpack(bytes);
      if (v instanceof Uint8Array) {
        expect(new Uint8Array(a)).toEqual(v);
        expect(new Uint8Array(b)).toEqual(v);
      } else {
        expect(a).toEqual(v);
        expect(b).toEqual(v);
      }
    }
  });

  it('reads what msgpackr writes (default pack and useRecords:false)', () => {
    const p = new Packr({ useRecords: false });
    for (const v of samples) {
      const want = v instanceof Uint8Array ? v : v;
      const got1 = decodeBody(new Uint8Array(msgpackrPack(v)));
      const got2 = decodeBody(new Uint8Array(p.pack(v)));
      expect(got1).toEqual(want);
      expect(got2).toEqual(want);
    }
  });

  it('reads msgpackr undefined values as absent fields', () => {
    const bytes = new Uint8Array(msgpackrPack({ a: 1, b: undefined }));
    expect(decodeBody(bytes)).toEqual({ a: 1 });
  });

  it('skips undefined object fields and encodes bigints as 64-bit ints', () => {
    expect(decodeBody(encodeBody({ a: undefined, b: 2 }))).toEqual({ b: 2 });
    expect(decodeBody(encodeBody(2n ** 63n))).toBe(2n ** 63n);
    expect(decodeBody(encodeBody(-(2n ** 62n)))).toBe(-(2n ** 62n));
    expect(decodeBody(encodeBody(5n))).toBe(5);
  });

  it('rejects values it cannot encode', () => {
    expect(() => encodeBody(new Date())).toThrow(ProtocolError);
    expect(() => encodeBody(() => 1)).toThrow(ProtocolError);
    expect(() => encodeBody(new Map())).toThrow(ProtocolError);
    const deep: any = [];
    let cur = deep;
    for (let i = 0; i < 100; i++) cur = cur[0] = [];
    expect(() => encodeBody(deep)).toThrow(/deeply/);
  });

  it('rejects malformed bodies', () => {
    const bad = [
      [0xc1], // never used
      [0xa5, 0x61], // truncated str
      [0x92, 0x01], // truncated array
      [0xdd, 0xff, 0xff, 0xff, 0xff], // huge array header, no items
      [0x81, 0x90, 0x01], // array as map key
      [0xd7, 0xff, 0, 0, 0, 0, 0, 0, 0, 0], // timestamp ext
      [0xa2, 0xc3, 0x28], // invalid UTF-8
      [0x01, 0x02], // trailing bytes
    ];
    for (const b of bad) expect(() => decodeBody(new Uint8Array(b)), JSON.stringify(b)).toThrow(ProtocolError);
  });

  it('does not let __proto__ keys pollute prototypes', () => {
    const bytes = new Uint8Array([0x81, 0xa9, ...Buffer.from('__proto__'), 0x81, 0xa1, 0x78, 0x01]);
    const v = decodeBody(bytes) as Record<string, unknown>;
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(v.__proto__).toEqual({ x: 1 });
  });
});

describe('framing', () => {
  const msgs = [{ id: 1, op: 'status', args: {} }, { id: 2, ok: true, result: { s: 'x'.repeat(1000) } }, 42];

  it('writes a big-endian length prefix', () => {
    const f = encodeFrame('abc');
    expect([...f.subarray(0, 4)]).toEqual([0, 0, 0, 4]);
    expect(decodeBody(f.subarray(4))).toBe('abc');
  });

  it('decodes frames split at every byte', () => {
    const stream = Buffer.concat(msgs.map((m) => encodeFrame(m)));
    const d = new FrameDecoder();
    const out: unknown[] = [];
    for (let i = 0; i < stream.length; i++) out.push(...d.push(stream.subarray(i, i + 1)));
    expect(out).toEqual(msgs);
    expect(d.buffered).toBe(0);
  });

  it('decodes coalesced frames and random splits', () => {
    const stream = Buffer.concat([...msgs, ...msgs, ...msgs].map((m) => encodeFrame(m)));
    for (let trial = 0; trial < 50; trial++) {
      const d = new FrameDecoder();
      const out: unknown[] = [];
      let i = 0;
      while (i < stream.length) {
        const n = 1 + Math.floor(Math.random() * 700);
        out.push(...d.push(stream.subarray(i, i + n)));
        i += n;
      }
      expect(out).toEqual([...msgs, ...msgs, ...msgs]);
    }
    expect(new FrameDecoder().push(stream)).toHaveLength(9);
  });

  it('copies partial input (callers may reuse their buffers)', () => {
    const f = Buffer.from(encodeFrame({ a: 'hello' }));
    const d = new FrameDecoder();
    const chunk = Buffer.from(f.subarray(0, 6));
    expect(d.push(chunk)).toEqual([]);
    chunk.fill(0xff);
    expect(d.push(f.subarray(6))).toEqual([{ a: 'hello' }]);
  });

  it('rejects frames over the limit, before buffering them, and stays failed', () => {
    const d = new FrameDecoder(1024);
    const big = encodeFrame('x'.repeat(2000), 4096);
    expect(() => d.push(big.subarray(0, 4))).toThrow(/exceeds the limit of 1024/);
    expect(() => d.push(encodeFrame(1))).toThrow(ProtocolError);
    expect(() => new FrameDecoder().push(new Uint8Array([0xff, 0xff, 0xff, 0xff]))).toThrow(
      new RegExp(`limit of ${DEFAULT_MAX_FRAME_BYTES}`),
    );
  });

  it('rejects zero-length frames and bad bodies', () => {
    expect(() => new FrameDecoder().push(new Uint8Array([0, 0, 0, 0]))).toThrow(/zero-length/);
    expect(() => new FrameDecoder().push(new Uint8Array([0, 0, 0, 1, 0xc1]))).toThrow(ProtocolError);
    expect(() => new FrameDecoder().push(new Uint8Array([0, 0, 0, 2, 0x01, 0x01]))).toThrow(/trailing/);
  });

  it('refuses to encode a frame over the limit', () => {
    expect(() => encodeFrame('x'.repeat(100), 50)).toThrow(ProtocolError);
    try {
      encodeFrame('x'.repeat(100), 50);
    } catch (e) {
      expect((e as ProtocolError).code).toBe('FRAME_TOO_LARGE');
    }
  });
});

describe('envelopes', () => {
  it('parses valid requests for every op', () => {
    const args: Record<string, object> = {
      attachPod: { containerId: 'c', ifName: 'eth0', netns: '/run/netns/x', ipv4: '10.0.0.2/24' },
      detachPod: { containerId: 'c', ifName: 'eth0' },
      addPeer: { name: 'n2', underlay: '192.0.2.2', podCIDRs: ['10.1.0.0/24'], vtepMac: '02:00:00:00:00:02' },
      removePeer: { name: 'n2' },
      addRoute: { dst: '10.9.0.0/16', target: { kind: 'peer', peer: 'n2' } },
      removeRoute: { dst: '10.9.0.0/16' },
    };
    for (const op of OP_NAMES) {
      const r = parseRequest({ id: 3, op, args: args[op] ?? {} });
      expect(r.ok, op).toBe(true);
    }
  });

  it('rejects bad envelopes with a usable id when there is one', () => {
    expect(parseRequest('x')).toMatchObject({ ok: false, id: 0, error: { code: 'BAD_REQUEST' } });
    expect(parseRequest({ id: -1, op: 'status' })).toMatchObject({ ok: false, id: 0 });
    expect(parseRequest({ id: 1.5, op: 'status' })).toMatchObject({ ok: false, id: 0 });
    expect(parseRequest({ id: 4, op: 'fly' })).toMatchObject({ ok: false, id: 4, error: { code: 'UNKNOWN_OP' } });
    expect(parseRequest({ id: 4, op: 7 })).toMatchObject({ ok: false, id: 4, error: { code: 'BAD_REQUEST' } });
    expect(parseRequest({ id: 4, op: 'status', args: [] })).toMatchObject({ ok: false, id: 4, error: { code: 'BAD_REQUEST' } });
    expect(parseRequest({ id: 5, op: 'status' })).toMatchObject({ ok: true, request: { args: {} } });
  });

  it('validates argument shapes and names the field', () => {
    expect(validateArgs('attachPod', { containerId: 'c', ifName: 'eth0' })).toMatch(/netns/);
    expect(validateArgs('attachPod', { containerId: 'c', ifName: 'eth0', netns: '/x', mtu: 'big' })).toMatch(/mtu/);
    expect(validateArgs('attachPod', { containerId: 'c', ifName: 'eth0', netns: '/x', ipv4: 5 })).toMatch(/ipv4/);
    expect(validateArgs('addPeer', { name: 'n', underlay: '1.2.3.4', podCIDRs: [1], vtepMac: 'x' })).toMatch(/podCIDRs/);
    expect(validateArgs('addRoute', { dst: '1.0.0.0/8', target: { kind: 'pod' } })).toMatch(/kind/);
    expect(validateArgs('addRoute', { dst: '1.0.0.0/8', target: { kind: 'peer' } })).toMatch(/peer/);
    expect(validateArgs('detachPod', { containerId: 'c', ifName: 'eth0', netns: null })).toBeNull();
  });

  it('parses responses', () => {
    expect(parseResponse({ id: 1, ok: true, result: { a: 1 } })).toEqual({ id: 1, ok: true, result: { a: 1 } });
    expect(parseResponse({ id: 1, ok: false, error: { code: 'X', message: 'm' } })).toEqual({ id: 1, ok: false, error: { code: 'X', message: 'm' } });
    expect(parseResponse({ id: 1, ok: false })).toMatchObject({ error: { code: 'INTERNAL' } });
    expect(() => parseResponse({ ok: true })).toThrow(ProtocolError);
  });
});

// ---------------------------------------------------------------------------------------------
// client
// ---------------------------------------------------------------------------------------------

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'weft-proto-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A raw server whose behaviour each test scripts. */
async function scriptedServer(path: string, onFrame: (s: Socket, body: any) => void): Promise<Server> {
  const server = createServer((s) => {
    const d = new FrameDecoder();
    s.on('data', (c) => {
      for (const b of d.push(c)) onFrame(s, b);
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(path, r));
  return server;
}
const closeServer = (s: Server) => new Promise<void>((r) => s.close(() => r()));

describe('RouterClient', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await closeServer(s);
  });

  it('reports a missing socket as RouterUnavailable(connect, ENOENT)', async () => {
    const err = await RouterClient.connect({ socketPath: join(dir, 'nope.sock') }).catch((e) => e);
    expect(err).toBeInstanceOf(RouterUnavailable);
    expect(err).toMatchObject({ reason: 'connect', errno: 'ENOENT' });
  });

  it('honours an already aborted signal on connect', async () => {
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    const err = await RouterClient.connect({ socketPath: join(dir, 'nope.sock'), signal: ac.signal }).catch((e) => e);
    expect(err.name).toBe('AbortError');
    expect(err.cause).toEqual(new Error('stop'));
  });

  it('talks to the fake router: typed results and typed errors', async () => {
    const r = new FakeRouter({ socketPath: join(dir, 'fake.sock'), podCIDRs: ['10.5.0.0/24', 'fd00:5::/64'], netnsWork: false });
    await r.start();
    try {
      const c = await RouterClient.connect({ socketPath: r.socketPath });
      const st = await c.status();
      expect(st).toMatchObject({ protocolVersion: 1, podCIDRs: ['10.5.0.0/24', 'fd00:5::/64'], gateway4: '10.5.0.1', gateway6: 'fd00:5::1' });
      expect(await c.addPeer({ name: 'n2', underlay: '192.0.2.2', podCIDRs: ['10.6.0.0/24'], vtepMac: '02:00:00:00:00:02' })).toEqual({ created: true });
      expect(await c.peers()).toEqual({ peers: [{ name: 'n2', underlay: '192.0.2.2', podCIDRs: ['10.6.0.0/24'], vtepMac: '02:00:00:00:00:02', origin: 'control' }] });
      expect(await c.addRoute({ dst: '10.7.0.0/16', target: { kind: 'blackhole' } })).toEqual({ created: true });
      expect((await c.routes()).routes).toContainEqual({ dst: '10.7.0.0/16', target: { kind: 'blackhole' }, origin: 'static' });
      expect(await c.removeRoute({ dst: '10.7.0.0/16' })).toEqual({ existed: true });
      expect(await c.removePeer({ name: 'n2' })).toEqual({ existed: true });
      expect(await c.removePeer({ name: 'n2' })).toEqual({ existed: false });
      expect(await c.detachPod({ containerId: 'c', ifName: 'eth0' })).toEqual({ existed: false });
      r.failNext('listPods', 'BUSY', 'restarting');
      const err = await c.listPods().catch((e) => e);
      expect(err).toBeInstanceOf(RouterError);
      expect(err).toMatchObject({ code: 'BUSY', message: 'restarting', op: 'listPods' });
      // a bad request is answered, the connection stays usable
      const bad = await c.call('attachPod', { containerId: 'c' } as never).catch((e) => e);
      expect(bad).toMatchObject({ code: 'BAD_REQUEST' });
      expect(await c.counters()).toHaveProperty('counters');
      // parallel calls
      const many = await Promise.all(Array.from({ length: 20 }, () => c.status()));
      expect(many).toHaveLength(20);
      c.close();
      await expect(c.status()).rejects.toBeInstanceOf(RouterUnavailable);
    } finally {
      await r.stop();
    }
  });

  it('matches out-of-order answers by id', async () => {
    const path = join(dir, 'ooo.sock');
    const held: [Socket, any][] = [];
    servers.push(
      await scriptedServer(path, (s, b) => {
        held.push([s, b]);
        if (held.length === 3) {
          for (const [sock, req] of held.reverse()) sock.write(encodeFrame({ id: req.id, ok: true, result: { echo: req.args.name } }));
        }
      }),
    );
    const c = await RouterClient.connect({ socketPath: path });
    const res = await Promise.all(['a', 'b', 'c'].map((name) => c.removePeer({ name }) as Promise<any>));
    expect(res.map((r) => r.echo)).toEqual(['a', 'b', 'c']);
    c.close();
  });

  it('times out a call, drops the late answer, and stays usable', async () => {
    const path = join(dir, 'slow.sock');
    servers.push(
      await scriptedServer(path, (s, b) => {
        const delay = b.op === 'peers' ? 150 : 0;
        setTimeout(() => s.write(encodeFrame({ id: b.id, ok: true, result: { op: b.op } })), delay);
      }),
    );
    const c = await RouterClient.connect({ socketPath: path });
    const err = await c.peers({ timeoutMs: 30 }).catch((e) => e);
    expect(err).toBeInstanceOf(RouterUnavailable);
    expect(err.reason).toBe('timeout');
    await new Promise((r) => setTimeout(r, 200));
    expect(await c.status()).toEqual({ op: 'status' });
    c.close();
  });

  it('aborts a call with an AbortSignal', async () => {
    const path = join(dir, 'never.sock');
    servers.push(await scriptedServer(path, () => undefined));
    const c = await RouterClient.connect({ socketPath: path });
    const ac = new AbortController();
    const p = c.status({ signal: ac.signal });
    setTimeout(() => ac.abort('bye'), 10);
    const err = await p.catch((e) => e);
    expect(err.name).toBe('AbortError');
    expect(err.cause).toBe('bye');
    c.close();
  });

  it('fails pending calls when the server closes the connection', async () => {
    const path = join(dir, 'closer.sock');
    servers.push(await scriptedServer(path, (s) => s.destroy()));
    const c = await RouterClient.connect({ socketPath: path });
    const err = await c.status().catch((e) => e);
    expect(err).toBeInstanceOf(RouterUnavailable);
    expect(err.reason).toBe('closed');
    expect(c.connected).toBe(false);
  });

  it('treats an oversized or garbage answer as a protocol error and closes', async () => {
    const path = join(dir, 'garbage.sock');
    servers.push(
      await scriptedServer(path, (s, b) => {
        if (b.op === 'status') s.write(Buffer.from([0x7f, 0, 0, 0]));
        else s.write(Buffer.from([0, 0, 0, 1, 0xc1]));
      }),
    );
    const c1 = await RouterClient.connect({ socketPath: path, maxFrameBytes: 1000 });
    await expect(c1.status()).rejects.toThrow(/exceeds the limit of 1000/);
    expect(c1.connected).toBe(false);
    const c2 = await RouterClient.connect({ socketPath: path });
    await expect(c2.peers()).rejects.toBeInstanceOf(ProtocolError);
  });

  it('fails everything on a connection-level error (id 0)', async () => {
    const path = join(dir, 'conn-err.sock');
    servers.push(await scriptedServer(path, (s) => s.end(encodeFrame({ id: 0, ok: false, error: { code: 'FRAME_TOO_LARGE', message: 'too big' } }))));
    const c = await RouterClient.connect({ socketPath: path });
    const err = await c.status().catch((e) => e);
    expect(err).toBeInstanceOf(RouterError);
    expect(err.code).toBe('FRAME_TOO_LARGE');
  });

  it('the fake router answers a frame over its limit with FRAME_TOO_LARGE and closes', async () => {
    const r = new FakeRouter({ socketPath: join(dir, 'fake2.sock'), podCIDRs: ['10.5.0.0/24'], netnsWork: false });
    await r.start();
    try {
      const c = await RouterClient.connect({ socketPath: r.socketPath });
      const err = await c.addPeer({ name: 'x'.repeat(DEFAULT_MAX_FRAME_BYTES + 10), underlay: '1.2.3.4', podCIDRs: [], vtepMac: 'm' }).catch((e) => e);
      expect(err).toBeInstanceOf(ProtocolError); // refused client-side before sending
      // send one by hand
      const s = (await import('node:net')).connect(r.socketPath);
      const got = await new Promise<any>((resolve) => {
        const d = new FrameDecoder();
        s.on('data', (chunk) => {
          const [body] = d.push(chunk);
          if (body) resolve(body);
        });
        s.write(Buffer.from([0x10, 0, 0, 0]));
      });
      expect(got).toMatchObject({ id: 0, ok: false, error: { code: 'FRAME_TOO_LARGE' } });
      s.destroy();
      c.close();
    } finally {
      await r.stop();
    }
  });
});
