// Helpers for differential tests of the Wasm data plane against the reference model: run the same
// input through both, one packet at a time, and report where verdict, reason or output differ.
//
// Outputs are compared after blanking what is implementation-defined (model.ts design notes):
// underlay packets go through `normalizeUnderlay` (outer IPv4 ID and checksums, IPv6 flow label,
// UDP source port, after checking them); ICMP errors we originate, bare or encapsulated, have their
// IPv4 ID / header checksum and IPv6 flow label blanked (the Wasm's IPv4 header checksums are
// verified separately, `outputHeaderProblem`).

import type { NodeTables } from "../../host/tables/node-tables.ts";
import { PORT_UNDERLAY, normalizeUnderlay, referenceProcess, type ModelResult, type ModelTables } from "./model.ts";
import { modelTablesFromConfig } from "./tables.ts";
import { bytesToHex } from "./packet.ts";
import { internetChecksum } from "./checksum.ts";

/** The model's kebab-case reason as the Wasm drop list spells it ("spoofed-ip" → "SpoofedIp"). */
export function wasmReasonName(modelReason: string): string {
  return modelReason
    .split("-")
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join("");
}

/** Canonical text of one output for comparison (see the notes at the top). */
export function comparableOutput(port: number, bytes: Uint8Array): string {
  if (port === PORT_UNDERLAY) {
    let b: Uint8Array;
    try {
      b = normalizeUnderlay(bytes);
    } catch (e) {
      return `${port}:INVALID(${(e as Error).message}):${bytesToHex(bytes)}`;
    }
    // The inner packet: after outer IP, UDP, the 8-byte VXLAN or option-less Geneve header (what
    // both sides emit) and the inner Ethernet header.
    const l4 = b[0]! >> 4 === 4 ? (b[0]! & 0xf) * 4 : 40;
    const eth = l4 + 8 + 8;
    if (b.length >= eth + 14) blankOurIcmpErrorIds(b, eth + 14, (b[eth + 12]! << 8) | b[eth + 13]!);
    return `${port}:${bytesToHex(b)}`;
  }
  const b = bytes.slice();
  const ipOff = port === 0 ? 0 : 14;
  const ethertype = port === 0 ? (b[0]! >> 4 === 4 ? 0x0800 : 0x86dd) : (b[12]! << 8) | b[13]!;
  blankOurIcmpErrorIds(b, ipOff, ethertype);
  return `${port}:${bytesToHex(b)}`;
}

/** Blanks, in place, the IPv4 ID + header checksum or IPv6 flow label of an ICMP error at `ipOff`. */
function blankOurIcmpErrorIds(b: Uint8Array, ipOff: number, ethertype: number): void {
  if (ethertype === 0x0800 && b.length >= ipOff + 20 && b[ipOff + 9] === 1) {
    const ihl = (b[ipOff]! & 0xf) * 4;
    const type = b[ipOff + ihl];
    if (type === 3 || type === 11 || type === 12) b[ipOff + 4] = b[ipOff + 5] = b[ipOff + 10] = b[ipOff + 11] = 0;
  } else if (ethertype === 0x86dd && b.length >= ipOff + 48 && b[ipOff + 6] === 58 && b[ipOff + 40]! < 128) {
    b[ipOff + 1]! &= 0xf0;
    b[ipOff + 2] = b[ipOff + 3] = 0;
  }
}

/**
 * The checks `comparableOutput` skips by blanking: every IPv4 header of an output (the packet's,
 * and for underlay output the outer and inner ones) has a valid header checksum. Returns what is
 * wrong, or undefined.
 */
export function outputHeaderProblem(port: number, bytes: Uint8Array): string | undefined {
  const v4Bad = (off: number) => {
    if (bytes.length < off + 20 || bytes[off]! >> 4 !== 4) return false;
    const ihl = (bytes[off]! & 0xf) * 4;
    return bytes.length < off + ihl || internetChecksum(bytes, off, ihl) !== 0;
  };
  if (port === PORT_UNDERLAY) {
    const l4 = bytes[0]! >> 4 === 4 ? (bytes[0]! & 0xf) * 4 : 40;
    const eth = l4 + 16;
    if (v4Bad(0)) return "outer IPv4 header checksum invalid";
    if (bytes.length >= eth + 14 && ((bytes[eth + 12]! << 8) | bytes[eth + 13]!) === 0x0800 && v4Bad(eth + 14)) return "inner IPv4 header checksum invalid";
    return undefined;
  }
  const ipOff = port === 0 ? 0 : 14;
  if ((port === 0 || ((bytes[12]! << 8) | bytes[13]!) === 0x0800) && v4Bad(ipOff)) return "IPv4 header checksum invalid";
  return undefined;
}

export interface DiffInput {
  port: number;
  bytes: Uint8Array;
  label?: string;
}
export interface Mismatch {
  input: DiffInput;
  wasm: { verdict: string; reason: string; outputs: string[] };
  model: { verdict: string; reason: string; outputs: string[] };
  /** "verdict" when verdict or reason differ, else "outputs". */
  kind: "verdict" | "outputs";
  /** A Wasm output failing `outputHeaderProblem`, when that is the difference. */
  problem?: string;
}

/**
 * Runs every input through `tables.dp` (one packet per batch, at time `nowMs`) and through the
 * model built from `tables.config` and its attached pods. Inputs larger than the data plane's
 * slot are skipped (counted in `skipped`).
 */
export function compareWithModel(tables: NodeTables, inputs: Iterable<DiffInput>, nowMs = 0, model?: ModelTables): { total: number; skipped: number; mismatches: Mismatch[] } {
  const mt = model ?? modelTablesFromConfig(tables.config, [...tables.pods.values()].map((p) => ({ name: p.name, port: p.port, mac: p.mac, ipv4: p.ipv4, ipv6: p.ipv6 })));
  const dp = tables.dp;
  const mismatches: Mismatch[] = [];
  let total = 0;
  let skipped = 0;
  for (const input of inputs) {
    try {
      dp.putPacket(0, input.bytes, input.port);
    } catch {
      skipped++;
      continue;
    }
    total++;
    const n = dp.process(1, nowMs);
    const r = dp.result(0);
    const wasmOut: string[] = [];
    for (let k = 0; k < n; k++) wasmOut.push(comparableOutput(dp.tx(k).port, dp.txBytes(k)));
    const m: ModelResult = referenceProcess(mt, input.port, input.bytes);
    const modelOut = m.outputs.map((o) => comparableOutput(o.port, o.bytes));
    const modelReason = m.reason ? wasmReasonName(m.reason) : "None";
    const sameVerdict = r.verdict === m.verdict && (m.verdict !== "drop" || r.reason === modelReason);
    const sameOut = JSON.stringify([...wasmOut].sort()) === JSON.stringify([...modelOut].sort());
    let problem: string | undefined;
    for (let k = 0; k < n && !problem; k++) problem = outputHeaderProblem(dp.tx(k).port, dp.txBytes(k));
    if (!sameVerdict || !sameOut || problem) {
      mismatches.push({
        input,
        wasm: { verdict: r.verdict, reason: r.reason, outputs: wasmOut },
        model: { verdict: m.verdict, reason: modelReason, outputs: modelOut },
        kind: sameVerdict ? "outputs" : "verdict",
        problem,
      });
    }
  }
  return { total, skipped, mismatches };
}

/** One line per mismatch, with the first differing output position, for test failure messages. */
export function describeMismatch(m: Mismatch): string {
  const head = `${m.input.label ?? ""} port ${m.input.port}: wasm ${m.wasm.verdict}/${m.wasm.reason} (${m.wasm.outputs.length} out), model ${m.model.verdict}/${m.model.reason} (${m.model.outputs.length} out)${m.problem ? `; wasm output: ${m.problem}` : ""}`;
  if (m.kind === "verdict") return head;
  const a = [...m.wasm.outputs].sort();
  const b = [...m.model.outputs].sort();
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? "";
    const y = b[i] ?? "";
    if (x === y) continue;
    let j = 0;
    while (x[j] === y[j]) j++;
    return `${head}; output ${i} differs at hex char ${j}: wasm …${x.slice(Math.max(0, j - 8), j + 24)} model …${y.slice(Math.max(0, j - 8), j + 24)}`;
  }
  return head;
}
