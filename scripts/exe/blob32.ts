/**
 * Node 20's SEA blob stores string lengths as size_t: 8 bytes when made by a 64-bit Node, 4 bytes
 * on 32-bit ARM. An x64-made blob therefore aborts in the armv7 binary ("ToLocalChecked Empty
 * MaybeLocal"). This rewrites the blob's length fields to 32 bits so the x64 Node of the same
 * version can make armv7 blobs without emulation. Layout (node_sea.cc, v20.11): u32 magic,
 * u32 flags, then length-prefixed strings (code path, main script); code cache and snapshot
 * fields are not used here.
 */
export function narrowBlob(blob: Buffer): Buffer {
  if (blob.length < 8) throw new Error('build-exe: SEA blob too short')
  const parts: Buffer[] = [blob.subarray(0, 8)]
  let off = 8
  for (let i = 0; i < 8 && off < blob.length; i++) {
    if (off + 8 > blob.length) throw new Error(`build-exe: SEA blob truncated at ${off}`)
    const len = blob.readBigUInt64LE(off)
    if (len > BigInt(blob.length - off - 8)) throw new Error(`build-exe: SEA blob field ${i} claims ${len} bytes, more than remain; not a 64-bit Node 20 blob`)
    const n = Number(len)
    const head = Buffer.alloc(4)
    head.writeUInt32LE(n)
    parts.push(head, blob.subarray(off + 8, off + 8 + n))
    off += 8 + n
  }
  if (off !== blob.length) throw new Error(`build-exe: SEA blob has ${blob.length - off} unexpected trailing bytes`)
  return Buffer.concat(parts)
}
