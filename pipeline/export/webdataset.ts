/**
 * WebDataset shards: per sample, `KEY.src.jpg`, `KEY.edit.jpg` (SFT) or `KEY.chosen.jpg` +
 * `KEY.rejected.jpg` (DPO), `KEY.txt` (the instruction) and `KEY.json`, in that order, samples
 * in key order. Images are loaded a few at a time ahead of the writer; the tar streams to disk.
 */
import type { BlobStore } from '../blobs.ts';
import { loadImage, needsEncode, orderedMap, type EncodeOptions } from './images.ts';
import type { SampleMeta } from './sample.ts';
import { TarWriter, tarMemberBytes } from './tar.ts';

export interface ShardWriteResult {
  bytes: number;
  sha256: string;
}

/** Samples loaded ahead of the tar writer (each holds its images in memory). */
export const LOOKAHEAD = 8;

/** Tar bytes of a sample's members given its image sizes (for `--shard-bytes`). */
export function sampleTarBytes(meta: SampleMeta, imageSizes: number[]): number {
  let n = tarMemberBytes(Buffer.byteLength(meta.instruction)) + tarMemberBytes(Buffer.byteLength(meta.json));
  for (const s of imageSizes) n += tarMemberBytes(s);
  return n;
}

/** Writes `samples` as one tar shard at `file` (the caller renames it into place). */
export async function writeTarShard(
  file: string,
  samples: SampleMeta[],
  blobs: BlobStore,
  enc: EncodeOptions,
  onSample?: () => void | Promise<void>,
): Promise<ShardWriteResult> {
  const tar = await TarWriter.create(file);
  try {
    // stored JPEGs are read straight into the tar's buffers; re-encodes run LOOKAHEAD samples ahead
    const loaded = orderedMap(
      samples,
      async (s) => ({
        s,
        images: await Promise.all(s.images.map(async (ref) => (needsEncode(ref, enc) ? loadImage(blobs, ref, enc) : blobs.path(ref.blobKey)))),
      }),
      LOOKAHEAD,
    );
    for await (const { s, images } of loaded) {
      for (let i = 0; i < images.length; i++) {
        const name = `${s.key}.${s.images[i]!.suffix}`;
        const img = images[i]!;
        await (typeof img === 'string' ? tar.addFile(name, img) : tar.add(name, img));
      }
      await tar.add(`${s.key}.txt`, Buffer.from(s.instruction, 'utf8'));
      await tar.add(`${s.key}.json`, Buffer.from(s.json, 'utf8'));
      await onSample?.();
    }
    return await tar.close();
  } catch (err) {
    await tar.abort();
    throw err;
  }
}
