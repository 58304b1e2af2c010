/**
 * A 64-bit DCT perceptual hash (pHash) of an image: greyscale, resized to 32×32 (aspect ignored),
 * a 2-D DCT-II, the top-left 8×8 block of coefficients (the lowest frequencies), each bit set when
 * its coefficient is above the median of the 63 AC coefficients. Re-encoding, resizing and mild
 * colour or compression changes move few bits; different photos differ in about half of them.
 *
 * The hash is kept as two unsigned 32-bit halves (fast popcounts, no BigInt in hot loops) and
 * stored in Postgres as a signed bigint with the same 64 bits.
 */
import sharp from 'sharp';

/** A 64-bit hash as its high and low unsigned 32-bit halves. */
export interface Hash64 {
  hi: number;
  lo: number;
}

const N = 32; // resize side, pixels
const K = 8; // kept low-frequency block side

/** cos((2x + 1)·u·π / 2N) for u < K, x < N: the DCT-II basis rows that the kept block needs. */
const BASIS: Float64Array = (() => {
  const b = new Float64Array(K * N);
  for (let u = 0; u < K; u++) for (let x = 0; x < N; x++) b[u * N + x] = Math.cos(((2 * x + 1) * u * Math.PI) / (2 * N));
  return b;
})();

/** The pHash of 32×32 greyscale pixels (row-major, 1024 values). */
export function phashOfPixels(px: ArrayLike<number>): Hash64 {
  if (px.length !== N * N) throw new Error(`expected ${N * N} pixels, got ${px.length}`);
  // separable DCT: first along x for every row (K coefficients per row), then along y
  const rowsT = new Float64Array(N * K); // [y][u]
  for (let y = 0; y < N; y++) {
    for (let u = 0; u < K; u++) {
      let s = 0;
      for (let x = 0; x < N; x++) s += BASIS[u * N + x]! * px[y * N + x]!;
      rowsT[y * K + u] = s;
    }
  }
  const coef = new Float64Array(K * K); // [v][u]
  for (let v = 0; v < K; v++) {
    for (let u = 0; u < K; u++) {
      let s = 0;
      for (let y = 0; y < N; y++) s += BASIS[v * N + y]! * rowsT[y * K + u]!;
      coef[v * K + u] = s;
    }
  }
  const ac = Array.from(coef.subarray(1)).sort((a, b) => a - b); // the 63 AC coefficients
  const median = ac[31]!;
  let hi = 0;
  let lo = 0;
  for (let i = 0; i < 64; i++) {
    if (coef[i]! > median) {
      if (i < 32) hi |= 1 << (31 - i);
      else lo |= 1 << (63 - i);
    }
  }
  return { hi: hi >>> 0, lo: lo >>> 0 };
}

/** The pHash of encoded image bytes (EXIF orientation applied, transparency flattened onto white). */
export async function phashOfImage(bytes: Buffer): Promise<Hash64> {
  const { data, info } = await sharp(bytes, { failOn: 'none' })
    .rotate()
    .flatten({ background: '#ffffff' })
    .greyscale()
    .resize(N, N, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const px = new Float64Array(N * N);
  for (let i = 0; i < N * N; i++) px[i] = data[i * info.channels]!;
  return phashOfPixels(px);
}

/** Number of set bits of a 32-bit integer. */
export function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** Hamming distance of two 64-bit hashes. */
export function hamming(a: Hash64, b: Hash64): number {
  return popcount32((a.hi ^ b.hi) >>> 0) + popcount32((a.lo ^ b.lo) >>> 0);
}

/** The hash as the signed 64-bit integer Postgres stores (decimal string, exact). */
export function toSignedString(h: Hash64): string {
  return BigInt.asIntN(64, (BigInt(h.hi) << 32n) | BigInt(h.lo)).toString();
}

/** The inverse of toSignedString (accepts a bigint column read as string or number-free text). */
export function fromSigned(v: string | bigint): Hash64 {
  const u = BigInt.asUintN(64, BigInt(v));
  return { hi: Number(u >> 32n), lo: Number(u & 0xffffffffn) };
}
