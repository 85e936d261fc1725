// Independent traffic for namespace tests: small node scripts run inside a namespace
// (`ip netns exec NS node -e ...`) that send or receive UDP through the kernel's own sockets, so
// what the addon reads or writes is checked against the real stack, not against itself.
// Every child is bounded: it exits after its count or its timeout, and is killed past that.
import { spawn } from "node:child_process";

export interface Child {
  /** Resolves when the child printed "ready" (receivers) or immediately (senders). */
  ready: Promise<void>;
  /** Resolves with the child's JSON result; rejects on a non-zero exit or a kill. */
  done: Promise<unknown>;
}

/** Runs a node `script` inside `ns` with `arg` as JSON; `waitReady`: `ready` waits for its "ready" line. */
export function runIn(ns: string, script: string, arg: unknown, timeoutMs: number, waitReady: boolean): Child {
  const cp = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", script, JSON.stringify(arg)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  let onReady: () => void = () => {};
  const ready = waitReady ? new Promise<void>((r) => (onReady = r)) : Promise.resolve();
  cp.stdout.setEncoding("utf8").on("data", (d: string) => {
    out += d;
    if (out.includes("ready\n")) onReady();
  });
  cp.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  const timer = setTimeout(() => cp.kill("SIGKILL"), timeoutMs + 2000);
  const done = new Promise<unknown>((resolve, reject) => {
    cp.on("close", (code, signal) => {
      clearTimeout(timer);
      onReady();
      if (code !== 0) return reject(new Error(`child in ${ns} exited ${code ?? signal}: ${err.trim()}`));
      const last = out.trim().split("\n").pop() ?? "null";
      resolve(JSON.parse(last));
    });
  });
  return { ready, done };
}

const SEND = `
const dgram = require("node:dgram");
const o = JSON.parse(process.argv[process.argv.length - 1]);
const s = dgram.createSocket(o.family === 6 ? "udp6" : "udp4");
s.bind(o.sport || 0, () => {
  let i = 0;
  const next = () => {
    if (i === o.count) { s.close(); console.log(JSON.stringify({ sent: i })); return; }
    const p = Buffer.alloc(o.size);
    p.writeUInt32BE(i, 0);
    for (let k = 4; k < o.size; k++) p[k] = (i * 31 + k) & 0xff;
    i++;
    s.send(p, o.port, o.address, next);
  };
  next();
});`;

const RECV = `
const dgram = require("node:dgram");
const o = JSON.parse(process.argv[process.argv.length - 1]);
const s = dgram.createSocket({ type: o.family === 6 ? "udp6" : "udp4", recvBufferSize: 4 << 20 });
const seqs = [];
let from;
const finish = () => { s.close(); console.log(JSON.stringify({ count: seqs.length, seqs, from })); process.exit(0); };
s.on("message", (m, r) => { seqs.push(m.readUInt32BE(0)); from = r; if (seqs.length === o.count) finish(); });
s.bind(o.port, o.address, () => { console.log("ready"); setTimeout(finish, o.timeoutMs); });`;

/** Sends `count` UDP datagrams of `size` bytes (first 4 bytes: sequence number) from inside `ns`. */
export function udpSenderIn(ns: string, o: { family: 4 | 6; address: string; port: number; count: number; size: number; sport?: number }): Child {
  return runIn(ns, SEND, o, 10_000, false);
}

/** Receives up to `count` UDP datagrams inside `ns`; result {count, seqs, from}. Print "ready" once bound. */
export function udpReceiverIn(ns: string, o: { family: 4 | 6; address: string; port: number; count: number; timeoutMs: number }): Child {
  return runIn(ns, RECV, o, o.timeoutMs, true);
}
