/**
 * Train/val split by the source image's near-duplicate group: the first 32 bits of the group's
 * canonical sha256 (its smallest member's; a lone source's own, already a uniform hash of its
 * bytes) as a fraction in [0, 1). Every sample of one source, and of every re-encoded or resized
 * copy of it, lands in the same split, whatever its request, candidate or export kind, and
 * raising `valFraction` only moves groups from train to val.
 */
export type Split = 'train' | 'val';

/** `val` when the group's hash fraction is below `valFraction` (0–1), else `train`. `groupSha256`: the group's canonical sha256. */
export function splitOf(groupSha256: string, valFraction: number): Split {
  return hashFraction(groupSha256) < valFraction ? 'val' : 'train';
}

/** The first 8 hex digits of a sha256 as a number in [0, 1). */
export function hashFraction(sha256Hex: string): number {
  const head = sha256Hex.slice(0, 8);
  if (!/^[0-9a-f]{8}$/i.test(head)) throw new Error(`not a sha256: ${sha256Hex}`);
  return parseInt(head, 16) / 0x1_0000_0000;
}
