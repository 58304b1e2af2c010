/**
 * DPO pairs as Parquet with Pick-a-Pic columns, which diffusers' `train_diffusion_dpo.py`
 * reads as it is: `caption` (the instruction), `jpg_0` (the chosen edit, JPEG bytes), `jpg_1`
 * (the rejected edit) and `label_0` (1.0: `jpg_0` is preferred, always, so no row has the 0.5
 * that the script drops). Extra columns for editing models: `src_jpg` (the source image),
 * `key` and `json` (the sample's `KEY.json` record). Rows go out in row groups of
 * `ROW_GROUP` so memory holds one group, never the file.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { ByteWriter, ParquetWriter, schemaFromColumnData, type ColumnSource } from 'hyparquet-writer';
import type { BlobStore } from '../blobs.ts';
import { loadImage, orderedMap, type EncodeOptions } from './images.ts';
import type { SampleMeta } from './sample.ts';
import type { ShardWriteResult } from './webdataset.ts';
import { LOOKAHEAD } from './webdataset.ts';

/** Rows per Parquet row group. */
export const ROW_GROUP = 32;

interface Columns {
  key: string[];
  caption: string[];
  jpg_0: Uint8Array[];
  jpg_1: Uint8Array[];
  label_0: number[];
  src_jpg: Uint8Array[];
  json: string[];
}

const empty = (): Columns => ({ key: [], caption: [], jpg_0: [], jpg_1: [], label_0: [], src_jpg: [], json: [] });

function columnData(c: Columns): ColumnSource[] {
  const bytes = { type: 'BYTE_ARRAY', nullable: false, encoding: 'PLAIN', statistics: false } as const;
  return [
    { name: 'key', data: c.key, type: 'STRING', nullable: false },
    { name: 'caption', data: c.caption, type: 'STRING', nullable: false },
    { name: 'jpg_0', data: c.jpg_0, ...bytes },
    { name: 'jpg_1', data: c.jpg_1, ...bytes },
    { name: 'label_0', data: c.label_0, type: 'DOUBLE', nullable: false },
    { name: 'src_jpg', data: c.src_jpg, ...bytes },
    { name: 'json', data: c.json, type: 'STRING', nullable: false, encoding: 'PLAIN' },
  ];
}

/** A hyparquet writer that appends each flushed chunk to `fd` and hashes it. */
function hashingFileWriter(fd: number): { writer: ByteWriter; digest(): ShardWriteResult } {
  const writer = new ByteWriter(1 << 20);
  const hash = createHash('sha256');
  let bytes = 0;
  const flush = () => {
    const chunk = new Uint8Array(writer.buffer, 0, writer.index);
    hash.update(chunk);
    let off = 0;
    while (off < chunk.length) off += writeSync(fd, chunk, off);
    bytes += chunk.length;
    writer.index = 0;
  };
  Object.assign(writer, { flush, finish: flush });
  return { writer, digest: () => ({ bytes, sha256: hash.digest('hex') }) };
}

/** Writes DPO `samples` (images: src, chosen, rejected) as one Parquet file at `file`. */
export async function writeParquetShard(
  file: string,
  samples: SampleMeta[],
  blobs: BlobStore,
  enc: EncodeOptions,
  createdBy: string,
  onSample?: () => void | Promise<void>,
): Promise<ShardWriteResult> {
  const fd = openSync(file, 'w');
  try {
    const { writer, digest } = hashingFileWriter(fd);
    const pq = new ParquetWriter({
      writer,
      schema: schemaFromColumnData({ columnData: columnData(empty()) }),
      codec: 'UNCOMPRESSED', // JPEG bytes do not compress
      createdBy,
    });
    let group = empty();
    const loaded = orderedMap(
      samples,
      async (s) => ({ s, images: await Promise.all(s.images.map((ref) => loadImage(blobs, ref, enc))) }),
      LOOKAHEAD,
    );
    for await (const { s, images } of loaded) {
      const [src, chosen, rejected] = images as [Buffer, Buffer, Buffer];
      group.key.push(s.key);
      group.caption.push(s.instruction);
      group.jpg_0.push(chosen);
      group.jpg_1.push(rejected);
      group.label_0.push(1);
      group.src_jpg.push(src);
      group.json.push(s.json);
      await onSample?.();
      if (group.key.length === ROW_GROUP) {
        await pq.write({ columnData: columnData(group), rowGroupSize: ROW_GROUP });
        group = empty();
      }
    }
    if (group.key.length) await pq.write({ columnData: columnData(group), rowGroupSize: ROW_GROUP });
    await pq.finish();
    return digest();
  } finally {
    closeSync(fd);
  }
}
