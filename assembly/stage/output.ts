// The end of every packet's path: exactly one verdict per input packet (deliver, forward, or
// drop with one reason) in the result records, and the TX list of packets to send.

import {
  RESULT_SIZE, RES_VERDICT, RES_REASON, RES_PORT, RES_PEER, RES_TX_COUNT, VERDICT_DROP, VERDICT_DELIVER,
  VERDICT_FORWARD, NO_PEER, PC_TX_PACKETS, PORT_UNDERLAY, TX_RUN_SIZE,
} from "../abi";
import {
  resultBase, txCount, txCapacity, setTxCount, countDrop, countPortBy, countPeer, portCountersBase, txOffsetsBase, txLengthsBase,
  txRunsBase, txPortCountBase, txPortPosBase, txRawOffsetsBase, txRawLengthsBase, txRawPortsBase, txRawPeersBase,
  txRawInputsBase,
} from "../state";

let runCount: i32 = 0;
/** Output port of the first TX entry of the batch, and whether any later entry differs. */
let firstPort: i32 = 0;
let mixedPorts = false;

/** Runs (one per output port) of the last batch. */
export function txRunCount(): i32 { return runCount; }

/**
 * Groups the TX list by output port into txOffsets / txLengths (stable: per-port order is
 * generation order), with one run (port, start, count) per port in first-use order. The usual
 * batch sends everything to one port: then the arrays are copied whole. Otherwise a counting
 * sort touches only the ports used (their per-port counters are zero between batches).
 */
export function groupTxByPort(): void {
  const n = txCount;
  if (n == 0) { runCount = 0; return; }
  if (!mixedPorts) {
    memory.copy(txOffsetsBase, txRawOffsetsBase, <usize>n << 2);
    memory.copy(txLengthsBase, txRawLengthsBase, <usize>n << 2);
    let bytes: i32 = 0;
    for (let k = 0; k < n; k++) bytes += <i32>load<u32>(txRawLengthsBase + (<usize>k << 2));
    countPortBy(firstPort, PC_TX_PACKETS, n, bytes);
    store<u16>(txRunsBase, <u16>firstPort);
    store<u16>(txRunsBase, 0, 4);
    store<u16>(txRunsBase, <u16>n, 6);
    runCount = 1;
    return;
  }
  let runs = 0;
  for (let k = 0; k < n; k++) {
    const port = <usize>load<u16>(txRawPortsBase + (<usize>k << 1));
    const c = txPortCountBase + (port << 1);
    const v = load<u16>(c);
    if (v == 0) {
      store<u16>(txRunsBase + <usize>(runs * TX_RUN_SIZE), <u16>port);
      runs++;
    }
    store<u16>(c, v + 1);
  }
  let start: i32 = 0;
  for (let r = 0; r < runs; r++) {
    const run = txRunsBase + <usize>(r * TX_RUN_SIZE);
    const port = <usize>load<u16>(run);
    const cnt = <i32>load<u16>(txPortCountBase + (port << 1));
    store<u16>(run, <u16>start, 4);
    store<u16>(run, <u16>cnt, 6);
    store<u16>(txPortPosBase + (port << 1), <u16>start);
    store<u16>(txPortCountBase + (port << 1), 0);
    start += cnt;
    countPortBy(<i32>port, PC_TX_PACKETS, cnt, 0);
  }
  for (let k = 0; k < n; k++) {
    const port = <usize>load<u16>(txRawPortsBase + (<usize>k << 1));
    const pp = txPortPosBase + (port << 1);
    const pos = <usize>load<u16>(pp);
    store<u16>(pp, <u16>(pos + 1));
    const len = load<u32>(txRawLengthsBase + (<usize>k << 2));
    store<u32>(txOffsetsBase + (pos << 2), load<u32>(txRawOffsetsBase + (<usize>k << 2)));
    store<u32>(txLengthsBase + (pos << 2), len);
    const c = portCountersBase + ((port * 4 + <usize>PC_TX_PACKETS) << 3);
    store<u64>(c, load<u64>(c, 8) + <u64>len, 8);
  }
  runCount = runs;
}

@inline function result(i: i32): usize { return resultBase + <usize>(i * RESULT_SIZE); }

/** Resets input i's record to "no verdict yet" (a drop with reason 0 must never survive a batch). */
@inline export function resultReset(i: i32): void { store<u64>(result(i), <u64>NO_PEER << 32); }

export function drop(i: i32, reason: u8): void {
  const r = result(i);
  store<u8>(r, VERDICT_DROP, RES_VERDICT);
  store<u8>(r, reason, RES_REASON);
  countDrop(reason);
}

@inline export function deliver(i: i32, port: i32): void {
  const r = result(i);
  store<u8>(r, VERDICT_DELIVER, RES_VERDICT);
  store<u8>(r, 0, RES_REASON);
  store<u16>(r, <u16>port, RES_PORT);
}

@inline export function forward(i: i32, peer: i32): void {
  const r = result(i);
  store<u8>(r, VERDICT_FORWARD, RES_VERDICT);
  store<u8>(r, 0, RES_REASON);
  store<u16>(r, PORT_UNDERLAY, RES_PORT);
  store<u16>(r, <u16>peer, RES_PEER);
}

/**
 * Appends a packet to the TX list, on behalf of input `i`. Returns false when the list is full
 * (cannot happen with the sizes init picks: one entry per input plus one per generated slot).
 */
@inline export function txPush(off: usize, len: i32, port: i32, peer: i32, i: i32): bool {
  const n = txCount;
  if (n >= txCapacity) return false;
  store<u32>(txRawOffsetsBase + (<usize>n << 2), <u32>off);
  store<u32>(txRawLengthsBase + (<usize>n << 2), <u32>len);
  store<u16>(txRawPortsBase + (<usize>n << 1), <u16>port);
  store<u16>(txRawPeersBase + (<usize>n << 1), <u16>peer);
  store<u16>(txRawInputsBase + (<usize>n << 1), <u16>i);
  if (n == 0) { firstPort = port; mixedPorts = false; } else if (port != firstPort) mixedPorts = true;
  setTxCount(n + 1);
  const r = result(i);
  store<u16>(r, load<u16>(r, RES_TX_COUNT) + 1, RES_TX_COUNT);
  if (peer != <i32>NO_PEER) countPeer(peer, PC_TX_PACKETS, len);
  return true;
}
