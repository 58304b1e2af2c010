/**
 * Train/val split by the source image: the first 32 bits of the source's sha256 (already a
 * uniform hash of its bytes) as a fraction in [0, 1). Every sample of one source lands in the
 * same split, whatever its request, candidate or export kind, and raising `valFraction` only
 * moves sources from train to val.
 */
export type Split = 'train' | 'val';

/** `val` when the source's hash fraction is below `valFraction` (0–1), else `train`. */
export function splitOf(sourceSha256: string, valFraction: number): Split {
  return hashFraction(sourceSha256) < valFraction ? 'val' : 'train';
}

/** The first 8 hex digits of a sha256 as a number in [0, 1). */
export function hashFraction(sha256Hex: string): number {
  const head = sha256Hex.slice(0, 8);
  if (!/^[0-9a-f]{8}$/i.test(head)) throw new Error(`not a sha256: ${sha256Hex}`);
  return parseInt(head, 16) / 0x1_0000_0000;
}
