// Shared machinery of the IPv4 and IPv6 longest-prefix-match tables (docs/LPM.md).
//
// Design notes
// ------------
// A table is a Poptrie-style multiway trie (Asai & Ohara, SIGCOMM 2015), written from the paper:
//
//   * a direct-pointing first level of 2^dirBits u64 entries (IPv4 18 bits, IPv6 16 bits):
//       lo32 = `default`, the value of the longest route of length <= dirBits covering the entry
//              (or LPM_MISS), hi32 = address of the root node record of the block, or 0.
//   * below it, nodes of stride 6 (levels at depth dirBits + 6*lv). A node record is RS bytes
//     (24 for IPv4, 32 for IPv6):
//       u64 vector   bit i: slot i is an internal node (a child)
//       u64 leafvec  bit i: slot i is a leaf slot that starts a run of equal leaves
//       u32 kidBase  address of the first child record - RS
//       u32 leafBase address of the first leaf - 4
//       (IPv6 only) u32 chain info, u32 chain value: path compression, see REC_CHAIN_INFO
//     so child = kidBase + RS*popcnt(vector << (63-i)) and leaf = leafBase + 4*popcnt(leafvec << (63-i)).
//     Children slots are "transparent" for leafvec (they neither start nor break a run).
//   * leaves are u32 values, leaf-pushed *within* the block of one direct entry only: a leaf holds
//     the longest route of length > dirBits covering its slot, or LPM_MISS when there is none, in
//     which case the lookup answers the direct entry's `default`. So routes of length <= dirBits
//     never touch a node (an update rewrites a range of direct entries), and a route of length
//     L > dirBits only touches the nodes of its own block: the path to it and the subtree under it.
//
// There is no separate RIB: every route is stored exactly once, as an 8-byte entry
// (u32 value, u8 start slot, u8 lo = L - depth) in a sorted list kept in a cold tail of the block
// of the node whose level holds its length (depth < L <= depth + 6). Routes of length <= dirBits
// live in "short lists" at virtual levels 0, 6 and 12 (1 + 64 + 4096 list slots).
//
// Memory: everything is reserved at init (direct table, list slots, builder scratch, an arena).
// Node blocks and short lists are variable-size blocks bump-allocated in the arena:
//     [u32 owner][u16 size][u8 kind][u8 routes] [root record (root blocks only)]
//     [child records 24*k][leaves 4*m][route entries 8*r]  (size rounded up to 8)
// An update builds the new versions of the blocks it changes beside the old ones (copy on write),
// then commits: it points the owners at the new blocks and marks the old ones dead. If the arena
// runs out while building, the bump pointer is reset (the table was never touched), the arena is
// compacted (live blocks slide down; `owner` is the one pointer to fix per block) and the update is
// retried once; failing again it returns ERR_FULL with the table exactly as before.

export const LPM_MISS: u32 = 0xFFFFFFFF;

export const ERR_BAD_LEN: i32 = -1;
export const ERR_FULL: i32 = -2;
export const ERR_BAD_VALUE: i32 = -3;
export const ERR_NOT_FOUND: i32 = -4;

// ---- layout constants ------------------------------------------------------------------------
export const REC_VEC: i32 = 0;
export const REC_LEAFVEC: i32 = 8;
export const REC_KIDS: i32 = 16;
export const REC_LEAVES: i32 = 20;
/**
 * 32-byte records only (IPv6): path compression. A record whose chain info is not 0 stands for a
 * chain of `levels` nodes that have no routes and one child each, followed by the node whose
 * fields (vector..leaves) it holds. Those chain nodes have no block and no record of their own.
 */
export const REC_CHAIN_INFO: i32 = 24;   // (levels << 27) | the chain's child slots, 6 bits per level, first level highest
export const REC_CHAIN_VALUE: i32 = 28;  // value of every leaf of the chain: the answer for a key that leaves it
const CHAIN_MAX: i32 = 4;
/** Record size of the table being worked on (24: IPv4, 32: IPv6 with chain shortcuts). */
let RS: i32 = 24;

export const HDR_SIZE: i32 = 8;
const HDR_OWNER: i32 = 0;
const HDR_BYTES: i32 = 4;
const HDR_KIND: i32 = 6;
const HDR_ROUTES: i32 = 7;

const KIND_ROOT: u8 = 1;
const KIND_NODE: u8 = 2;
const KIND_LIST: u8 = 3;

const ENT_SIZE: i32 = 8;
const ENT_VALUE: i32 = 0;
const ENT_START: i32 = 4;
const ENT_LO: i32 = 5;

/** Short-route list slots: level 0 (lengths 0..6), 64 at level 1 (7..12), 4096 at level 2 (13..). */
export const LIST_SLOTS: i32 = 1 + 64 + 4096;

// Builder scratch per FIB level.
const SC_OLDP: i32 = 0;      // 64 x u32 painted values before the update
const SC_NEWP: i32 = 256;    // 64 x u32 painted values after the update
const SC_LEAVES: i32 = 512;  // 64 x u32 new leaves
const SC_RECS: i32 = 768;    // 64 x (24 or 32) new child records
const SC_LIST: i32 = 2816;   // 127 x 8 new route list
export const LV_SCRATCH: i32 = 2816 + 127 * 8 + 8;


/**
 * One table (one address family). Lives in linear memory; fields are set by `tableInit`.
 * Keys are handled as 128-bit left-aligned (hi, lo) pairs: IPv4 uses hi = addr << 32, lo = 0.
 */
@unmanaged export class Table {
  dir: usize = 0;
  lists: usize = 0;
  scratch: usize = 0;
  arena: usize = 0;
  arenaEnd: usize = 0;
  bump: usize = 0;
  freeTop: usize = 0;   // blocks replaced by the update being built, a stack down from arenaEnd
  dead: usize = 0;
  base: usize = 0;
  reserved: usize = 0;
  dirBits: i32 = 0;
  levels: i32 = 0;
  recSize: i32 = 24;
  width: i32 = 0;
  count: i32 = 0;
  maxRoutes: i32 = 0;
  compactions: i32 = 0;
}

export function tableNew(): Table {
  const p = heap.alloc(offsetof<Table>());
  memory.fill(p, 0, offsetof<Table>());
  return changetype<Table>(p);
}

/**
 * (Re)initialises `t` for up to `maxRoutes` routes with an arena of `arenaBytes`, reusing the
 * previous reservation when it is large enough. The only place that allocates.
 */
export function tableInit(t: Table, dirBits: i32, levels: i32, width: i32, recSize: i32, maxRoutes: i32, arenaBytes: usize): void {
  const dirBytes = (<usize>1 << <usize>dirBits) << 3;
  const listBytes = <usize>((LIST_SLOTS * 4 + 7) & ~7);
  const scratchBytes = <usize>(levels * LV_SCRATCH);
  arenaBytes = (arenaBytes + 7) & ~<usize>7;
  const need = dirBytes + listBytes + scratchBytes + arenaBytes + 16;
  if (t.base == 0 || t.reserved < need) {
    if (t.base != 0) heap.free(t.base);
    t.base = heap.alloc(need);
    t.reserved = need;
  }
  const b = (t.base + 7) & ~<usize>7;
  t.dir = b;
  t.lists = b + dirBytes;
  t.scratch = t.lists + listBytes;
  t.arena = t.scratch + scratchBytes;
  t.arenaEnd = t.arena + arenaBytes;
  t.bump = t.arena;
  t.freeTop = t.arenaEnd;
  t.dead = 0;
  t.dirBits = dirBits;
  t.levels = levels;
  t.width = width;
  t.recSize = recSize;
  t.count = 0;
  t.maxRoutes = maxRoutes < 0 ? 0 : maxRoutes;
  t.compactions = 0;
  // direct entries: default = LPM_MISS, no root
  const n = <usize>1 << <usize>dirBits;
  if (ASC_FEATURE_SIMD) {
    const miss = i64x2.splat(<i64>0x00000000FFFFFFFF);
    for (let i: usize = 0; i < n; i += 2) v128.store(b + (i << 3), miss);
  } else {
    for (let i: usize = 0; i < n; i++) store<u64>(b + (i << 3), <u64>0x00000000FFFFFFFF);
  }
  memory.fill(t.lists, 0, listBytes);
}

// ---- the operation being applied (module state: single-threaded, one op at a time) ----------
let opHi: u64 = 0;       // prefix, left-aligned, host bits cleared
let opLo: u64 = 0;
let opLen: i32 = 0;
let opVal: u32 = 0;
let opDelete = false;
let opTlv: i32 = 0;      // FIB level (long route) or short level of the route
let opEntLo: i32 = 0;    // route's `lo` in its list
let opEntStart: i32 = 0; // route's start slot in its list
let opMark: usize = 0;   // bump pointer when the build started: blocks >= opMark are new
let gVec: u64 = 0;       // record of the node the builder just made
let gLeafVec: u64 = 0;
let gKids: u32 = 0;
let gLeaves: u32 = 0;
let gInfo: u32 = 0;       // its chain info and value (32-byte records)
let gValue: u32 = 0;

@inline function useTable(t: Table): void { RS = t.recSize; }

@inline function chainLen(rec: usize): i32 {
  return RS == 32 ? <i32>(load<u32>(rec, REC_CHAIN_INFO) >> 27) : 0;
}
/** Child slot of chain level i (0 = first) of the chain record `rec` of `len` levels. */
@inline function chainSlot(rec: usize, len: i32, i: i32): i32 {
  return <i32>((load<u32>(rec, REC_CHAIN_INFO) >> <u32>(6 * (len - 1 - i))) & 63);
}

@inline function storeRec(dst: usize): void {
  store<u64>(dst, gVec, REC_VEC);
  store<u64>(dst, gLeafVec, REC_LEAFVEC);
  store<u32>(dst, gKids, REC_KIDS);
  store<u32>(dst, gLeaves, REC_LEAVES);
  if (RS == 32) {
    store<u32>(dst, gInfo, REC_CHAIN_INFO);
    store<u32>(dst, gValue, REC_CHAIN_VALUE);
  }
}

/** Writes to dst the record for what remains of chain record `rec` (`len` levels) after `off` levels. */
function storeChainRest(dst: usize, rec: usize, len: i32, off: i32): void {
  memory.copy(dst, rec, 24);
  const left = len - off;
  if (left == 0) {
    store<u64>(dst, 0, REC_CHAIN_INFO);
  } else {
    const bits = load<u32>(rec, REC_CHAIN_INFO) & ((<u32>1 << <u32>(6 * left)) - 1);
    store<u32>(dst, (<u32>left << 27) | bits, REC_CHAIN_INFO);
    store<u32>(dst, load<u32>(rec, REC_CHAIN_VALUE), REC_CHAIN_VALUE);
  }
}

@inline export function fieldAt(hi: u64, lo: u64, d: i32): i32 {
  return d < 64 ? <i32>((hi << <u64>d) >> 58) : <i32>((lo << <u64>(d - 64)) >> 58);
}

/** Sets the operation's prefix; clears the bits beyond `len`. */
export function opSetPrefix(hi: u64, lo: u64, len: i32): void {
  if (len <= 0) { hi = 0; lo = 0; }
  else if (len <= 64) { hi &= ~(<u64>0) << <u64>(64 - len); lo = 0; }
  else { lo &= ~(<u64>0) << <u64>(128 - len); }
  opHi = hi; opLo = lo; opLen = len;
}

@inline function shortLevel(len: i32): i32 { return len <= 6 ? 0 : (len <= 12 ? 1 : 2); }
@inline function listSlotIndex(lev: i32, hi: u64): i32 {
  if (lev == 0) return 0;
  if (lev == 1) return 1 + <i32>(hi >> 58);
  return 65 + <i32>(hi >> 52);
}

// ---- arena -----------------------------------------------------------------------------------
@inline function arenaAlloc(t: Table, bytes: i32): usize {
  const p = t.bump;
  if (p + <usize>bytes > t.freeTop) return 0;
  t.bump = p + <usize>bytes;
  return p;
}

/** Remembers a block the update replaces (freed at commit); false when the arena is full. */
@inline function pushFree(t: Table, blk: usize): bool {
  if (t.freeTop - 4 < t.bump) return false;
  t.freeTop -= 4;
  store<u32>(t.freeTop, <u32>blk);
  return true;
}

@inline function markDead(t: Table, blk: usize): void {
  store<u32>(blk, 0, HDR_OWNER);
  t.dead += <usize>load<u16>(blk, HDR_BYTES);
}

/** Block of the node whose record is `rec` at FIB level `lv`. */
@inline function blockOfRec(rec: usize, lv: i32): usize {
  return lv == 0 ? rec - <usize>HDR_SIZE : <usize>load<u32>(rec, REC_KIDS) + <usize>(RS - HDR_SIZE);
}
@inline function listOfRec(rec: usize): usize {
  return <usize>load<u32>(rec, REC_LEAVES) + 4 + (<usize>popcnt<u64>(load<u64>(rec, REC_LEAFVEC)) << 2);
}
/** Record of the child in slot j of the node `rec` (slot j must be a child). */
@inline function childRec(rec: usize, vec: u64, j: i32): usize {
  return <usize>load<u32>(rec, REC_KIDS) + <usize>(RS * <i32>popcnt<u64>(vec << <u64>(j ^ 63)));
}

/** Slides live blocks down over dead ones, fixing the one pointer that names each moved block. */
export function tableCompact(t: Table): void {
  useTable(t);
  let src = t.arena;
  let dst = t.arena;
  const end = t.bump;
  while (src < end) {
    const bytes = <usize>load<u16>(src, HDR_BYTES);
    const owner = <usize>load<u32>(src, HDR_OWNER);
    if (owner != 0) {
      if (dst != src) {
        memory.copy(dst, src, bytes);
        const delta = <u32>(src - dst);
        const kind = load<u8>(dst, HDR_KIND);
        if (kind == KIND_LIST) {
          store<u32>(owner, <u32>dst);
        } else {
          let rec: usize;
          let kids: usize;
          if (kind == KIND_ROOT) {
            rec = dst + <usize>HDR_SIZE;
            store<u32>(owner, <u32>rec);   // hi half of the direct entry
            kids = rec + <usize>RS;
          } else {
            rec = owner;
            kids = dst + <usize>HDR_SIZE;
          }
          store<u32>(rec, load<u32>(rec, REC_KIDS) - delta, REC_KIDS);
          store<u32>(rec, load<u32>(rec, REC_LEAVES) - delta, REC_LEAVES);
          const k = <i32>popcnt<u64>(load<u64>(rec, REC_VEC));
          for (let c = 0; c < k; c++) {
            const crec = kids + <usize>(c * RS);
            store<u32>(<usize>load<u32>(crec, REC_KIDS) + <usize>(RS - HDR_SIZE), <u32>crec, HDR_OWNER);
          }
        }
      }
      dst += bytes;
    }
    src += bytes;
  }
  t.bump = dst;
  t.dead = 0;
  t.compactions++;
}

// ---- route lists -------------------------------------------------------------------------------
@inline function entKey(e: usize): i32 { return (<i32>load<u8>(e, ENT_LO) << 8) | <i32>load<u8>(e, ENT_START); }

/** Entry of the op's route in the list (src, n), or 0. */
function listFind(src: usize, n: i32): usize {
  const key = (opEntLo << 8) | opEntStart;
  for (let i = 0; i < n; i++) {
    const e = src + <usize>(i * ENT_SIZE);
    if (entKey(e) == key) return e;
  }
  return 0;
}

/** Writes the list (src, n) with the op applied (insert/replace or delete) to dst; returns its length. */
function listApply(dst: usize, src: usize, n: i32): i32 {
  const key = (opEntLo << 8) | opEntStart;
  let i = 0;
  let o = 0;
  while (i < n && entKey(src + <usize>(i * ENT_SIZE)) < key) {
    store<u64>(dst + <usize>(o * ENT_SIZE), load<u64>(src + <usize>(i * ENT_SIZE)));
    i++; o++;
  }
  if (i < n && entKey(src + <usize>(i * ENT_SIZE)) == key) i++;
  if (!opDelete) {
    const e = dst + <usize>(o * ENT_SIZE);
    store<u32>(e, opVal, ENT_VALUE);
    store<u8>(e, <u8>opEntStart, ENT_START);
    store<u8>(e, <u8>opEntLo, ENT_LO);
    store<u16>(e, 0, 6);
    o++;
  }
  while (i < n) {
    store<u64>(dst + <usize>(o * ENT_SIZE), load<u64>(src + <usize>(i * ENT_SIZE)));
    i++; o++;
  }
  return o;
}

/** 64 slots = `inh`, then each route of the list (sorted by length) painted over its slots. */
function paint(dst: usize, list: usize, n: i32, inh: u32): void {
  if (ASC_FEATURE_SIMD) {
    const v = i32x4.splat(<i32>inh);
    for (let i: usize = 0; i < 256; i += 16) v128.store(dst + i, v);
  } else {
    const w = (<u64>inh << 32) | <u64>inh;
    for (let i: usize = 0; i < 256; i += 8) store<u64>(dst + i, w);
  }
  for (let i = 0; i < n; i++) {
    const e = list + <usize>(i * ENT_SIZE);
    const val = load<u32>(e, ENT_VALUE);
    const start = <i32>load<u8>(e, ENT_START);
    const span = 1 << (6 - <i32>load<u8>(e, ENT_LO));
    for (let j = start; j < start + span; j++) store<u32>(dst + <usize>(j << 2), val);
  }
}

// ---- the builder ---------------------------------------------------------------------------
/**
 * Builds the new version of the old node (oldRec, oldOff) at FIB level `lv`: oldRec = 0 when there
 * is none; oldOff < chain length of oldRec when it is a link of the chain that record compresses.
 * `inhOld`/`inhNew`: the covering value from the levels above before/after the update. `onPath`:
 * the node contains the op's prefix (it is the target or an ancestor of it); otherwise it lies
 * inside the prefix and only its inherited value changed. Children whose inherited value is
 * unchanged (and that are not on the path) are shared, not copied. The old node's block goes on
 * the free stack. Returns 1 (record in gVec..gValue: a real node, or with RS = 32 possibly a chain
 * record), 0 (the node is empty and must not exist) or -1 (arena full).
 */
function buildNode(t: Table, oldRec: usize, oldOff: i32, lv: i32, inhOld: u32, inhNew: u32, onPath: bool): i32 {
  const sc = t.scratch + <usize>(lv * LV_SCRATCH);
  const isRoot = lv == 0;
  let oVec: u64 = 0;
  let oList: usize = 0;
  let oN: i32 = 0;
  let oChain = 0;       // > 0: the old node is link oldOff of a chain of this length (no routes, one child)
  if (oldRec != 0) {
    const len = chainLen(oldRec);
    if (oldOff < len) {
      oChain = len;
      oVec = <u64>1 << <u64>chainSlot(oldRec, len, oldOff);
    } else {
      oVec = load<u64>(oldRec, REC_VEC);
      oList = listOfRec(oldRec);
      const blk = blockOfRec(oldRec, lv);
      oN = <i32>load<u8>(blk, HDR_ROUTES);
      if (!pushFree(t, blk)) return -1;
    }
  }
  const isTarget = onPath && lv == opTlv;
  let nList = oList;
  let nN = oN;
  if (isTarget) {
    nList = sc + <usize>SC_LIST;
    nN = listApply(nList, oList, oN);
  }
  const oldP = sc + <usize>SC_OLDP;
  paint(oldP, oList, oN, inhOld);
  let newP = oldP;
  if (isTarget || inhNew != inhOld) {
    newP = sc + <usize>SC_NEWP;
    paint(newP, nList, nN, inhNew);
  }
  const d = t.dirBits + 6 * lv;
  const ps: i32 = onPath && !isTarget ? fieldAt(opHi, opLo, d) : -1;

  // children
  const recs = sc + <usize>SC_RECS;
  let nVec: u64 = 0;
  let k = 0;
  let slots = oVec;
  if (ps >= 0) slots |= <u64>1 << <u64>ps;
  while (slots != 0) {
    const j = <i32>ctz<u64>(slots);
    slots &= slots - 1;
    const had = ((oVec >> <u64>j) & 1) != 0;
    const oc: usize = had ? (oChain != 0 ? oldRec : childRec(oldRec, oVec, j)) : 0;
    const ocOff = oChain != 0 ? oldOff + 1 : 0;
    const pOld = load<u32>(oldP + <usize>(j << 2));
    const pNew = load<u32>(newP + <usize>(j << 2));
    const dst = recs + <usize>(k * RS);
    if (j == ps || pOld != pNew) {
      const r = buildNode(t, oc, ocOff, lv + 1, pOld, pNew, j == ps);
      if (r < 0) return -1;
      if (r == 0) continue;
      storeRec(dst);
    } else if (oChain != 0) {
      storeChainRest(dst, oldRec, oChain, oldOff + 1);   // shared; re-expressed one level down
    } else {
      memory.copy(dst, oc, <usize>RS);                   // shared
    }
    nVec |= <u64>1 << <u64>j;
    k++;
  }
  if (k == 0 && nN == 0) return 0;

  // path compression: no routes and one child -> this node becomes a link of the child's chain
  if (RS == 32 && !isRoot && nN == 0 && k == 1) {
    const cLen = chainLen(recs);
    if (cLen < CHAIN_MAX && (lv + cLen < 8 || lv >= 8)) {   // never straddles depth 64
      gVec = load<u64>(recs, REC_VEC);
      gLeafVec = load<u64>(recs, REC_LEAFVEC);
      gKids = load<u32>(recs, REC_KIDS);
      gLeaves = load<u32>(recs, REC_LEAVES);
      gInfo = (<u32>(cLen + 1) << 27) | (<u32>ctz<u64>(nVec) << <u32>(6 * cLen)) | (load<u32>(recs, REC_CHAIN_INFO) & 0x7FFFFFF);
      gValue = inhNew;
      return 1;
    }
  }

  // leaves: one per run of equal values over the non-child slots
  const leaves = sc + <usize>SC_LEAVES;
  let leafVec: u64 = 0;
  let m = 0;
  let prev: u32 = 0;
  for (let j = 0; j < 64; j++) {
    if ((nVec >> <u64>j) & 1) continue;
    const v = load<u32>(newP + <usize>(j << 2));
    if (m == 0 || v != prev) {
      leafVec |= <u64>1 << <u64>j;
      store<u32>(leaves + <usize>(m << 2), v);
      m++;
      prev = v;
    }
  }

  // the block
  const own = isRoot ? RS : 0;
  const bytes = (HDR_SIZE + own + k * RS + m * 4 + nN * ENT_SIZE + 7) & ~7;
  const blk = arenaAlloc(t, bytes);
  if (blk == 0) return -1;
  store<u32>(blk, 0, HDR_OWNER);
  store<u16>(blk, <u16>bytes, HDR_BYTES);
  store<u8>(blk, isRoot ? KIND_ROOT : KIND_NODE, HDR_KIND);
  store<u8>(blk, <u8>nN, HDR_ROUTES);
  const kids = blk + <usize>(HDR_SIZE + own);
  memory.copy(kids, recs, <usize>(k * RS));
  const lv0 = kids + <usize>(k * RS);
  memory.copy(lv0, leaves, <usize>(m << 2));
  memory.copy(lv0 + <usize>(m << 2), nList, <usize>(nN * ENT_SIZE));
  gVec = nVec;
  gLeafVec = leafVec;
  gKids = <u32>(kids - <usize>RS);
  gLeaves = <u32>(lv0 - 4);
  gInfo = 0;
  gValue = 0;
  if (isRoot) storeRec(blk + <usize>HDR_SIZE);
  return 1;
}

/** Commits the record `rec`, whose block is new: names the owner of each child block, recursing into new ones. */
function commitNode(t: Table, rec: usize): void {
  const k = <i32>popcnt<u64>(load<u64>(rec, REC_VEC));
  const kids = <usize>load<u32>(rec, REC_KIDS) + <usize>RS;
  for (let c = 0; c < k; c++) {
    const crec = kids + <usize>(c * RS);
    const cblk = <usize>load<u32>(crec, REC_KIDS) + <usize>(RS - HDR_SIZE);
    store<u32>(cblk, <u32>crec, HDR_OWNER);
    if (cblk >= opMark) commitNode(t, crec);
  }
}

// ---- operations ----------------------------------------------------------------------------
/**
 * Prepares the op for the prefix set by opSetPrefix; returns the list entry of the route when it
 * exists (0 otherwise). Must be called before `tableApply`.
 */
export function opLocate(t: Table): usize {
  useTable(t);
  const s = t.dirBits;
  const L = opLen;
  if (L <= s) {
    const lev = shortLevel(L);
    const d = 6 * lev;
    opTlv = lev;
    opEntLo = L - d;
    opEntStart = fieldAt(opHi, opLo, d) & (0x3F << (6 - opEntLo)) & 0x3F;
    const blk = <usize>load<u32>(t.lists + <usize>(listSlotIndex(lev, opHi) << 2));
    if (blk == 0) return 0;
    return listFind(blk + <usize>HDR_SIZE, <i32>load<u8>(blk, HDR_ROUTES));
  }
  const lv = (L - s - 1) / 6;
  const d = s + 6 * lv;
  opTlv = lv;
  opEntLo = L - d;
  opEntStart = fieldAt(opHi, opLo, d) & (0x3F << (6 - opEntLo)) & 0x3F;
  let rec = <usize>load<u32>(t.dir + <usize>((<i32>(opHi >> <u64>(64 - s))) << 3), 4);
  let off = 0;    // chain levels of `rec` already walked
  for (let i = 0; i < lv; i++) {
    if (rec == 0) return 0;
    const v = fieldAt(opHi, opLo, s + 6 * i);
    const len = chainLen(rec);
    if (off < len) {
      if (chainSlot(rec, len, off) != v) return 0;
      off++;
      continue;
    }
    const vec = load<u64>(rec, REC_VEC);
    if (((vec >> <u64>v) & 1) == 0) return 0;
    rec = childRec(rec, vec, v);
    off = 0;
  }
  if (rec == 0 || off < chainLen(rec)) return 0;   // chain links hold no routes
  return listFind(listOfRec(rec), <i32>load<u8>(blockOfRec(rec, lv), HDR_ROUTES));
}

/** Applies the located op (insert/replace when !del, else delete). 0 or ERR_FULL (table unchanged). */
export function tableApply(t: Table, value: u32, del: bool): i32 {
  useTable(t);
  opVal = value;
  opDelete = del;
  if (opLen <= t.dirBits) return applyShort(t);
  return applyLong(t);
}

function applyLong(t: Table): i32 {
  const entry = t.dir + <usize>((<i32>(opHi >> <u64>(64 - t.dirBits))) << 3);
  for (let attempt = 0; attempt < 2; attempt++) {
    const oldRoot = <usize>load<u32>(entry, 4);
    opMark = t.bump;
    t.freeTop = t.arenaEnd;
    const r = buildNode(t, oldRoot, 0, 0, LPM_MISS, LPM_MISS, true);
    if (r < 0) {
      t.bump = opMark;
      t.freeTop = t.arenaEnd;
      if (attempt == 0 && t.dead != 0) { tableCompact(t); continue; }
      return ERR_FULL;
    }
    if (r == 1) {
      const newRoot = <usize>gKids;            // root record = block + 8 = first child - RS
      store<u32>(newRoot - <usize>HDR_SIZE, <u32>(entry + 4), HDR_OWNER);
      commitNode(t, newRoot);
      store<u32>(entry, <u32>newRoot, 4);
    } else {
      store<u32>(entry, 0, 4);
    }
    for (let p = t.freeTop; p < t.arenaEnd; p += 4) markDead(t, <usize>load<u32>(p));
    t.freeTop = t.arenaEnd;
    return 0;
  }
  return ERR_FULL;
}

function applyShort(t: Table): i32 {
  const slot = t.lists + <usize>(listSlotIndex(opTlv, opHi) << 2);
  const tmp = t.scratch + <usize>SC_LIST;
  for (let attempt = 0; attempt < 2; attempt++) {
    const old = <usize>load<u32>(slot);
    const oN = old != 0 ? <i32>load<u8>(old, HDR_ROUTES) : 0;
    const nN = listApply(tmp, old + <usize>HDR_SIZE, oN);
    if (nN == 0) {
      store<u32>(slot, 0);
    } else {
      const bytes = HDR_SIZE + nN * ENT_SIZE;
      const blk = arenaAlloc(t, bytes);
      if (blk == 0) {
        if (attempt == 0 && t.dead != 0) { tableCompact(t); continue; }
        return ERR_FULL;
      }
      store<u32>(blk, <u32>slot, HDR_OWNER);
      store<u16>(blk, <u16>bytes, HDR_BYTES);
      store<u8>(blk, KIND_LIST, HDR_KIND);
      store<u8>(blk, <u8>nN, HDR_ROUTES);
      memory.copy(blk + <usize>HDR_SIZE, tmp, <usize>(nN * ENT_SIZE));
      store<u32>(slot, <u32>blk);
    }
    if (old != 0) markDead(t, old);
    repaintDirect(t);
    return 0;
  }
  return ERR_FULL;
}

@inline function fillDefault(t: Table, first: i32, n: i32, v: u32): void {
  const p = t.dir + <usize>(first << 3);
  for (let i = 0; i < n; i++) store<u32>(p + <usize>(i << 3), v);
}

/** Paints the direct entries of the list entry `e` of list `idx` at short level depth d. */
function paintEntryDirect(t: Table, idx: i32, d: i32, e: usize): void {
  const s = t.dirBits;
  const lo = <i32>load<u8>(e, ENT_LO);
  const start = <i32>load<u8>(e, ENT_START);
  const sh = s - d - 6;
  const first = (idx << (s - d)) | (sh >= 0 ? start << sh : start >> -sh);
  fillDefault(t, first, 1 << (s - d - lo), load<u32>(e, ENT_VALUE));
}

/** Recomputes the `default` of every direct entry inside the op's prefix (length <= dirBits). */
function repaintDirect(t: Table): void {
  const s = t.dirBits;
  const L = opLen;
  const lev = shortLevel(L);
  const first = <i32>(opHi >> <u64>(64 - s));
  // the longest route shorter than L that covers the prefix
  let base = LPM_MISS;
  for (let l = 0; l <= lev; l++) {
    const blk = <usize>load<u32>(t.lists + <usize>(listSlotIndex(l, opHi) << 2));
    if (blk == 0) continue;
    const d = 6 * l;
    const f = fieldAt(opHi, 0, d);
    const n = <i32>load<u8>(blk, HDR_ROUTES);
    for (let i = 0; i < n; i++) {
      const e = blk + <usize>(HDR_SIZE + i * ENT_SIZE);
      const lo = <i32>load<u8>(e, ENT_LO);
      if (d + lo >= L) break;
      if ((f & (0x3F << (6 - lo)) & 0x3F) == <i32>load<u8>(e, ENT_START)) base = load<u32>(e, ENT_VALUE);
    }
  }
  fillDefault(t, first, 1 << (s - L), base);
  // then every route of length >= L inside the prefix, shortest first
  for (let l = lev; l <= 2; l++) {
    const d = 6 * l;
    if (l == lev) {
      const idx = l == 0 ? 0 : <i32>(opHi >> <u64>(64 - d));
      const blk = <usize>load<u32>(t.lists + <usize>(listSlotIndex(l, opHi) << 2));
      if (blk == 0) continue;
      const sig = 6 - (L - d);
      const f = fieldAt(opHi, 0, d) >> sig;
      const n = <i32>load<u8>(blk, HDR_ROUTES);
      for (let i = 0; i < n; i++) {
        const e = blk + <usize>(HDR_SIZE + i * ENT_SIZE);
        if (d + <i32>load<u8>(e, ENT_LO) < L) continue;
        if ((<i32>load<u8>(e, ENT_START) >> sig) != f) continue;
        paintEntryDirect(t, idx, d, e);
      }
    } else {
      if (d > s) break;
      const idx0 = <i32>(opHi >> <u64>(64 - d));
      const cnt = 1 << (d - L);
      const off = l == 1 ? 1 : 65;
      for (let idx = idx0; idx < idx0 + cnt; idx++) {
        const blk = <usize>load<u32>(t.lists + <usize>((off + idx) << 2));
        if (blk == 0) continue;
        const n = <i32>load<u8>(blk, HDR_ROUTES);
        for (let i = 0; i < n; i++) paintEntryDirect(t, idx, d, blk + <usize>(HDR_SIZE + i * ENT_SIZE));
      }
    }
  }
}

// ---- statistics and the invariant checker (tests) ------------------------------------------
export function tableLiveBytes(t: Table): i32 { return <i32>(t.bump - t.arena - t.dead); }

let chkBytes: usize = 0;
let chkRoutes: i32 = 0;
let chkNodes: i32 = 0;

/** Checks the node of record `rec` at level `lv`; returns 0 or a positive code naming the broken invariant. */
function checkNode(t: Table, rec: usize, lv: i32, owner: usize): i32 {
  const len = chainLen(rec);
  if (len > 0) {
    if (lv == 0) return 50;                                   // roots are never chain links
    if (len > CHAIN_MAX) return 51;
    if (!(lv + len - 1 < 8 || lv >= 8)) return 52;            // a chain never straddles depth 64
    if ((load<u32>(rec, REC_CHAIN_INFO) & 0x7FFFFFF) >> <u32>(6 * len) != 0) return 53;
  } else if (RS == 32 && load<u64>(rec, REC_CHAIN_INFO) != 0) {
    return 53;
  }
  lv += len;                                                  // the real node the record holds
  if (lv >= t.levels) return 55;
  const blk = blockOfRec(rec, lv);
  if (blk < t.arena || blk >= t.bump) return 10;
  if (<usize>load<u32>(blk, HDR_OWNER) != owner) return 11;
  const kind = load<u8>(blk, HDR_KIND);
  if (kind != (lv == 0 ? KIND_ROOT : KIND_NODE)) return 12;
  if (lv == 0 && <usize>load<u32>(rec, REC_KIDS) != rec) return 13;
  const vec = load<u64>(rec, REC_VEC);
  const leafVec = load<u64>(rec, REC_LEAFVEC);
  if ((vec & leafVec) != 0) return 14;
  const k = <i32>popcnt<u64>(vec);
  const m = <i32>popcnt<u64>(leafVec);
  const n = <i32>load<u8>(blk, HDR_ROUTES);
  if (k == 0 && n == 0) return 15;                       // empty nodes must not exist
  if (lv == t.levels - 1 && k != 0) return 16;
  const own = lv == 0 ? RS : 0;
  const bytes = (HDR_SIZE + own + k * RS + m * 4 + n * ENT_SIZE + 7) & ~7;
  if (<i32>load<u16>(blk, HDR_BYTES) != bytes) return 17;
  if (<usize>load<u32>(rec, REC_LEAVES) + 4 != <usize>load<u32>(rec, REC_KIDS) + <usize>(RS + k * RS)) return 18;
  const kids = <usize>load<u32>(rec, REC_KIDS) + <usize>RS;
  // canonical: a route-less single-child node is compressed into a chain unless the limits forbid it
  if (RS == 32 && lv != 0 && n == 0 && k == 1) {
    const cLen = chainLen(kids);
    if (cLen < CHAIN_MAX && (lv + cLen < 8 || lv >= 8)) return 54;
  }
  // leaves: first leaf slot starts a run, adjacent runs differ
  const leaves = <usize>load<u32>(rec, REC_LEAVES) + 4;
  let seen = false;
  let prev: u32 = 0;
  let li = 0;
  for (let j = 0; j < 64; j++) {
    if ((vec >> <u64>j) & 1) continue;
    const starts = ((leafVec >> <u64>j) & 1) != 0;
    if (!seen && !starts) return 19;
    if (starts) {
      const v = load<u32>(leaves + <usize>(li << 2));
      if (seen && v == prev) return 20;
      prev = v; li++;
    }
    seen = true;
  }
  // route list sorted, in range
  const list = listOfRec(rec);
  for (let i = 0; i < n; i++) {
    const e = list + <usize>(i * ENT_SIZE);
    const lo = <i32>load<u8>(e, ENT_LO);
    if (lo < 1 || lo > 6) return 21;
    if (<i32>load<u8>(e, ENT_START) & ((1 << (6 - lo)) - 1)) return 22;
    if (load<u32>(e, ENT_VALUE) == LPM_MISS) return 23;
    if (i > 0 && entKey(e - <usize>ENT_SIZE) >= entKey(e)) return 24;
  }
  chkBytes += <usize>bytes;
  chkRoutes += n;
  chkNodes++;
  for (let c = 0; c < k; c++) {
    const crec = kids + <usize>(c * RS);
    const r = checkNode(t, crec, lv + 1, crec);
    if (r != 0) return r;
  }
  return 0;
}

/**
 * Walks the whole table and the arena; 0 when every structural invariant holds (owners, sizes,
 * canonical leaf runs, sorted lists, no empty nodes, byte and route accounting).
 */
export function tableCheck(t: Table): i32 {
  useTable(t);
  chkBytes = 0; chkRoutes = 0; chkNodes = 0;
  const n = 1 << t.dirBits;
  for (let i = 0; i < n; i++) {
    const e = t.dir + <usize>(i << 3);
    const rec = <usize>load<u32>(e, 4);
    if (rec == 0) continue;
    const r = checkNode(t, rec, 0, e + 4);
    if (r != 0) return r;
  }
  for (let i = 0; i < LIST_SLOTS; i++) {
    const slot = t.lists + <usize>(i << 2);
    const blk = <usize>load<u32>(slot);
    if (blk == 0) continue;
    if (blk < t.arena || blk >= t.bump) return 30;
    if (<usize>load<u32>(blk, HDR_OWNER) != slot) return 31;
    if (load<u8>(blk, HDR_KIND) != KIND_LIST) return 32;
    const nr = <i32>load<u8>(blk, HDR_ROUTES);
    if (nr == 0) return 33;
    if (<i32>load<u16>(blk, HDR_BYTES) != HDR_SIZE + nr * ENT_SIZE) return 34;
    for (let k = 0; k < nr; k++) {
      const e = blk + <usize>(HDR_SIZE + k * ENT_SIZE);
      if (load<u32>(e, ENT_VALUE) == LPM_MISS) return 35;
      if (k > 0 && entKey(e - <usize>ENT_SIZE) >= entKey(e)) return 36;
    }
    chkBytes += <usize>(HDR_SIZE + nr * ENT_SIZE);
    chkRoutes += nr;
  }
  if (chkRoutes != t.count) return 40;
  // the arena: blocks tile [arena, bump); dead bytes add up
  let p = t.arena;
  let dead: usize = 0;
  let live: usize = 0;
  while (p < t.bump) {
    const b = <usize>load<u16>(p, HDR_BYTES);
    if (b < <usize>HDR_SIZE || (b & 7) != 0) return 41;
    if (load<u32>(p, HDR_OWNER) == 0) dead += b; else live += b;
    p += b;
  }
  if (p != t.bump) return 42;
  if (t.freeTop != t.arenaEnd) return 45;
  if (dead != t.dead) return 43;
  if (live != chkBytes) return 44;
  return 0;
}

export function tableNodeCount(t: Table): i32 {
  const r = tableCheck(t);
  return r == 0 ? chkNodes : -r;
}
