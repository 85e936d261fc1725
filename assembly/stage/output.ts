// The end of every packet's path: exactly one verdict per input packet (deliver, forward, or
// drop with one reason) in the result records, and the TX list of packets to send.

import {
  RESULT_SIZE, RES_VERDICT, RES_REASON, RES_PORT, RES_PEER, RES_TX_COUNT, TX_DESC_SIZE, TX_OFF, TX_LEN,
  TX_PORT, TX_PEER, TX_INPUT, VERDICT_DROP, VERDICT_DELIVER, VERDICT_FORWARD, NO_PEER, PC_TX_PACKETS,
  PORT_UNDERLAY,
} from "../abi";
import { resultBase, txDescBase, txCount, txCapacity, setTxCount, countDrop, countPort, countPeer } from "../state";

@inline function result(i: i32): usize { return resultBase + <usize>(i * RESULT_SIZE); }

/** Resets input i's record to "no verdict yet" (a drop with reason 0 must never survive a batch). */
@inline export function resultReset(i: i32): void { store<u64>(result(i), <u64>NO_PEER << 32); }

export function drop(i: i32, reason: u8): void {
  const r = result(i);
  store<u8>(r, VERDICT_DROP, RES_VERDICT);
  store<u8>(r, reason, RES_REASON);
  countDrop(reason);
}

export function deliver(i: i32, port: i32): void {
  const r = result(i);
  store<u8>(r, VERDICT_DELIVER, RES_VERDICT);
  store<u8>(r, 0, RES_REASON);
  store<u16>(r, <u16>port, RES_PORT);
}

export function forward(i: i32, peer: i32): void {
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
export function txPush(off: usize, len: i32, port: i32, peer: i32, i: i32): bool {
  const n = txCount;
  if (n >= txCapacity) return false;
  const t = txDescBase + <usize>(n * TX_DESC_SIZE);
  store<u32>(t, <u32>off, TX_OFF);
  store<u32>(t, <u32>len, TX_LEN);
  store<u16>(t, <u16>port, TX_PORT);
  store<u16>(t, <u16>peer, TX_PEER);
  store<u32>(t, <u32>i, TX_INPUT);
  setTxCount(n + 1);
  const r = result(i);
  store<u16>(r, load<u16>(r, RES_TX_COUNT) + 1, RES_TX_COUNT);
  countPort(port, PC_TX_PACKETS, len);
  if (peer != <i32>NO_PEER) countPeer(peer, PC_TX_PACKETS, len);
  return true;
}
