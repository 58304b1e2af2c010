/** A benchmark's whole-number option `--name N` (default `def`, at least `min`); a bad value stops it naming the flag. */
export function flag(name: string, def: number, min = 1): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name}: expected a whole number ≥ ${min}, got ${process.argv[i + 1]}`);
  return v;
}
