// Argument checks for the offload exports: offsets and lengths come from the host as i32 and may
// be anything; a load or store outside memory would trap the instance, so every region an
// export touches is checked against the memory size first.

/** True when [off, off + len) lies inside linear memory. */
@inline export function inMemory(off: i32, len: i32): bool {
  return off >= 0 && len >= 0 && <u64>off + <u64>len <= (<u64>memory.size() << 16);
}

/** Same for an array of `count` entries of `size` bytes. */
@inline export function arrayInMemory(ptr: i32, count: i32, size: i32): bool {
  return count >= 0 && count <= 0x1000000 && inMemory(ptr, count * size);
}
