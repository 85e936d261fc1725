// One batch: read the RX descriptors, dispatch each packet to its port's ingress, and leave per
// input exactly one verdict in the result records and the packets to send in the TX list.

import {
  PORT_HOST, PORT_UNDERLAY, PC_RX_PACKETS,
  DROP_BAD_DESCRIPTOR, DROP_UNKNOWN_PORT, EV_BATCHES, EV_PACKETS, BATCH_MAX,
} from "../abi";
import {
  rxOffsetsBase, rxLengthsBase, rxPortsBase, rxFlagsBase, slotSize, headroom, portCount, setTxCount, setGenUsed, setNow, countEvent, countEventBy, countPortBy, slotStart,
  txCount,
} from "../state";
import { resultReset, drop, groupTxByPort } from "./output";
import { podIn, hostIn, underlayIn } from "./ingress";
import { fastBegin, encapFast, decapFast } from "./fast";
import { podRecord } from "../tables/pods";

/**
 * Processes descriptors 0..n-1. Descriptor i must describe a packet inside slot i, starting at
 * least `headroom` bytes into it; anything else is dropped as BadDescriptor (the host is trusted
 * for nothing). Returns the number of TX entries.
 */
export function processBatch(n: i32, now: u32): i32 {
  if (n < 0) n = 0;
  if (n > BATCH_MAX) n = BATCH_MAX;
  setTxCount(0);
  setGenUsed(0);
  setNow(now);
  countEvent(EV_BATCHES);
  countEventBy(EV_PACKETS, n);
  fastBegin();
  // RX counters accumulate over runs of one port (a batch usually comes from one port).
  let runPort = -1;
  let runPackets = 0;
  let runBytes = 0;
  for (let i = 0; i < n; i++) {
    resultReset(i);
    const off = <usize>load<u32>(rxOffsetsBase + (<usize>i << 2));
    const len = <i32>load<u32>(rxLengthsBase + (<usize>i << 2));
    const port = <i32>load<u16>(rxPortsBase + (<usize>i << 1));
    const lo = slotStart(i) + <usize>headroom;
    const hi = slotStart(i) + <usize>slotSize;
    if (off < lo || len < 0 || len > slotSize || off + <usize>len > hi) { drop(i, DROP_BAD_DESCRIPTOR); continue; }
    if (port >= portCount) { drop(i, DROP_UNKNOWN_PORT); continue; }
    if (port != runPort) {
      if (runPackets) countPortBy(runPort, PC_RX_PACKETS, runPackets, runBytes);
      runPort = port;
      runPackets = 0;
      runBytes = 0;
    }
    runPackets++;
    runBytes += len;
    // the common cases first (stage/fast.ts); anything they do not take, the general path
    if (port == <i32>PORT_UNDERLAY) {
      const flags = load<u16>(rxFlagsBase + (<usize>i << 1));
      if (!decapFast(i, off, len, flags)) underlayIn(i, off, len, flags);
    } else if (port == <i32>PORT_HOST) hostIn(i, off, len);
    else if (!encapFast(i, off, len, port, podRecord(port))) podIn(i, off, len, port);
  }
  if (runPackets) countPortBy(runPort, PC_RX_PACKETS, runPackets, runBytes);
  groupTxByPort();
  return txCount;
}
