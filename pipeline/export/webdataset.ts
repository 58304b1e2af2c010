/**
 * WebDataset shards: per sample, `KEY.src.jpg`, `KEY.edit.jpg` (SFT) or `KEY.chosen.jpg` +
 * `KEY.rejected.jpg` (DPO), `KEY.txt` (the instruction) and `KEY.json`, in that order, samples
 * in key order. Images are loaded a few at a time ahead of the writer; the tar streams to disk.
 */
import type { BlobStore } from '../blobs.ts';
import { loadImage, needsEncode, orderedMap, type EncodeOptions } from './images.ts';
import type { SampleMeta } from './sample.ts';
import { TarWriter, tarMemberBytes, type TarMember } from './tar.ts';

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

/**
 * Writes `samples` as one tar shard at `file` (the caller renames it into place). Resolves once
 * every member is queued, with `done`: the shard's size and sha256 once it is on disk, so the
 * caller can start the next shard meanwhile.
 */
export async function writeTarShard(
  file: string,
  samples: SampleMeta[],
  blobs: BlobStore,
  enc: EncodeOptions,
  onSample?: () => void | Promise<void>,
): Promise<{ done: Promise<ShardWriteResult> }> {
  const tar = await TarWriter.create(file);
  const members = (s: SampleMeta, images: (string | Buffer)[]): TarMember[] => {
    const list: TarMember[] = images.map((img, i) => {
      const name = `${s.key}.${s.images[i]!.suffix}`;
      return typeof img === 'string' ? { name, file: img } : { name, data: img };
    });
    list.push({ name: `${s.key}.txt`, text: s.instruction }, { name: `${s.key}.json`, text: s.json });
    return list;
  };
  try {
    if (samples.every((s) => s.images.every((ref) => !needsEncode(ref, enc)))) {
      // stored JPEGs only: read straight into the tar's buffers, in order
      for (const s of samples) {
        await tar.addMembers(members(s, s.images.map((ref) => blobs.path(ref.blobKey))));
        const wait = onSample?.();
        if (wait) await wait;
      }
    } else {
      // re-encodes run LOOKAHEAD samples ahead (sharp uses the thread pool); stored JPEGs are read
      // straight into the tar's buffers
      const loaded = orderedMap(
        samples,
        async (s) => ({
          s,
          images: await Promise.all(s.images.map(async (ref) => (needsEncode(ref, enc) ? loadImage(blobs, ref, enc) : blobs.path(ref.blobKey)))),
        }),
        LOOKAHEAD,
      );
      for await (const { s, images } of loaded) {
        await tar.addMembers(members(s, images));
        const wait = onSample?.();
        if (wait) await wait;
      }
    }
    return await tar.end();
  } catch (err) {
    await tar.abort();
    throw err;
  }
}
