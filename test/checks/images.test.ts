/**
 * Image validation and decoding on real files and the bad inputs a pipeline meets: each either
 * decodes to correct 8-bit sRGB pixels or throws ImageError/InputError naming its subject.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { ImageError, InputError } from '../../pipeline/errors/index.ts';
import { decodeImage, probeImage, readImageFile } from '../../pipeline/images.ts';
import { crc32 } from 'node:zlib';

const fixtures = path.join(import.meta.dirname, '../fixtures/images');
const fixture = (name: string) => readFileSync(path.join(fixtures, name));
const astronaut = fixture('astronaut.png');
const tmp = mkdtempSync(path.join(tmpdir(), 'vibe-images-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function rejects(p: Promise<unknown>, cls: typeof ImageError | typeof InputError, subject: string, why: RegExp) {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(cls);
  const e = err as ImageError;
  expect(e.subject).toBe(subject);
  expect(e.message).toMatch(why);
  expect(e.oneLine()).not.toContain('\n');
}

/** A PNG whose header declares `w`×`h` pixels, with a tiny (wrong) body: what a pixel bomb looks like to a probe. */
function pngDeclaring(w: number, h: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Mean absolute difference per channel value between two equally sized raw buffers. */
function meanAbsDiff(a: Buffer, b: Buffer): number {
  expect(a.length).toBe(b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}

describe('probeImage and decodeImage refuse bad inputs with ImageError naming the subject', () => {
  it('a truncated JPEG fixture', async () => {
    await rejects(probeImage(fixture('truncated.jpg'), 'truncated.jpg'), ImageError, 'truncated.jpg', /truncated JPEG/);
  });

  it('a JPEG cut before its end marker (header intact, so only the tail check catches it)', async () => {
    const jpeg = await sharp(astronaut).jpeg().toBuffer();
    const cut = jpeg.subarray(0, jpeg.length - 2000);
    expect((await sharp(cut).metadata()).width).toBe(512); // the header alone looks fine
    await rejects(probeImage(cut, 'cut.jpg'), ImageError, 'cut.jpg', /truncated JPEG: no end-of-image marker/);
    await rejects(decodeImage(cut, 'cut.jpg'), ImageError, 'cut.jpg', /truncated JPEG/);
  });

  it('a PNG cut before IEND', async () => {
    await rejects(probeImage(astronaut.subarray(0, astronaut.length - 4000), 'cut.png'), ImageError, 'cut.png', /truncated PNG: no IEND/);
  });

  it('zero bytes', async () => {
    await rejects(probeImage(Buffer.alloc(0), 'empty.jpg'), ImageError, 'empty.jpg', /empty file/);
  });

  it('a text file', async () => {
    await rejects(probeImage(Buffer.from('{"not": "an image"}\n'), 'notes.txt'), ImageError, 'notes.txt', /not an image/);
  });

  it('a PNG declaring 100000×100000 pixels (decompression bomb), refused before decoding', async () => {
    await rejects(decodeImage(pngDeclaring(100_000, 100_000), 'bomb.png'), ImageError, 'bomb.png', /too many pixels: 100000×100000/);
  });

  it('a real image over a low pixel limit', async () => {
    await rejects(decodeImage(astronaut, 'astronaut.png', { maxPixels: 100_000 }), ImageError, 'astronaut.png', /exceeds the limit of 0\.100 MP/);
    expect((await decodeImage(astronaut, 'astronaut.png', { maxPixels: 512 * 512 })).width).toBe(512);
  });
});

describe('decodeImage normalises what it accepts to 8-bit sRGB, 3 channels', () => {
  it('a PNG decodes to the exact pixels', async () => {
    const img = await decodeImage(astronaut, 'a');
    const ref = await sharp(astronaut).removeAlpha().raw().toBuffer();
    expect([img.format, img.width, img.height, img.channels, img.pages]).toEqual(['png', 512, 512, 3, 1]);
    expect(img.data.equals(ref)).toBe(true);
  });

  it('a CMYK JPEG comes back as RGB close to the original', async () => {
    const cmyk = await sharp(astronaut).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const img = await decodeImage(cmyk, 'cmyk.jpg');
    expect(img.channels).toBe(3);
    expect(meanAbsDiff(img.data, await sharp(astronaut).raw().toBuffer())).toBeLessThan(8);
  });

  it('a 16-bit PNG comes back as 8-bit with the same values', async () => {
    const p16 = await sharp(astronaut).toColourspace('rgb16').png().toBuffer();
    expect((await sharp(p16).metadata()).depth).toBe('ushort');
    const img = await decodeImage(p16, 'deep.png');
    expect(img.data.length).toBe(512 * 512 * 3);
    expect(meanAbsDiff(img.data, await sharp(astronaut).raw().toBuffer())).toBeLessThan(1);
  });

  it('an alpha PNG is flattened onto white', async () => {
    const rgba = Buffer.alloc(4 * 4 * 4);
    for (let i = 0; i < 16; i++) rgba.set(i < 8 ? [200, 10, 10, 255] : [0, 0, 0, 0], i * 4); // top half opaque red, bottom transparent
    const png = await sharp(rgba, { raw: { width: 4, height: 4, channels: 4 } }).png().toBuffer();
    const img = await decodeImage(png, 'alpha.png');
    expect([...img.data.subarray(0, 3)]).toEqual([200, 10, 10]);
    expect([...img.data.subarray(img.data.length - 3)]).toEqual([255, 255, 255]);
  });

  it('a grayscale PNG gets three equal channels', async () => {
    const img = await decodeImage(fixture('camera.png'), 'camera.png');
    expect(img.channels).toBe(3);
    expect(img.data[3000]).toBe(img.data[3001]);
    expect(img.data[3001]).toBe(img.data[3002]);
  });

  it.each(['gif', 'webp'] as const)('an animated %s: the first frame, with the frame count', async (fmt) => {
    const red = await sharp({ create: { width: 32, height: 24, channels: 3, background: '#ff0000' } }).png().toBuffer();
    const blue = await sharp({ create: { width: 32, height: 24, channels: 3, background: '#0000ff' } }).png().toBuffer();
    const anim = await sharp([red, blue], { join: { animated: true } })[fmt]().toBuffer();
    const info = await probeImage(anim, `anim.${fmt}`);
    expect(info).toMatchObject({ format: fmt, width: 32, height: 24, pages: 2 });
    const img = await decodeImage(anim, `anim.${fmt}`);
    expect([img.width, img.height]).toEqual([32, 24]);
    const [r, g, b] = img.data.subarray(3 * (12 * 32 + 16));
    expect(r).toBeGreaterThan(200);
    expect(g! + b!).toBeLessThan(60);
  });

  it('an EXIF-rotated JPEG (orientation 6) is turned upright: sizes swap and pixels match', async () => {
    // Pixels stored turned 90° anticlockwise, tagged "rotate 90° clockwise to view".
    const stored = await sharp(astronaut).resize(300, 200, { fit: 'fill' }).rotate(-90).png().toBuffer();
    const tagged = await sharp(stored).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
    const info = await probeImage(tagged, 'rot.jpg');
    expect([info.width, info.height]).toEqual([300, 200]);
    const img = await decodeImage(tagged, 'rot.jpg');
    expect([img.width, img.height]).toEqual([300, 200]);
    const upright = await sharp(astronaut).resize(300, 200, { fit: 'fill' }).raw().toBuffer();
    expect(meanAbsDiff(img.data, upright)).toBeLessThan(4);
  });

  it('maxSide shrinks, keeping the aspect ratio', async () => {
    const img = await decodeImage(fixture('rocket.jpg'), 'rocket.jpg', { maxSide: 320 });
    expect([img.width, img.height]).toEqual([320, 214]);
  });
});

describe('readImageFile', () => {
  it('returns the bytes of a good file', async () => {
    expect((await readImageFile(path.join(fixtures, 'rocket.jpg'))).equals(fixture('rocket.jpg'))).toBe(true);
  });

  it('names the path for a missing file, a directory, and bad contents', async () => {
    const missing = path.join(tmp, 'missing.jpg');
    await rejects(readImageFile(missing), InputError, missing, /no such file/);
    await rejects(readImageFile(tmp), InputError, tmp, /is a directory/);
    const text = path.join(tmp, 'notes.jpg');
    writeFileSync(text, 'just text');
    await rejects(readImageFile(text), ImageError, text, /not an image/);
    const empty = path.join(tmp, 'empty.png');
    writeFileSync(empty, '');
    await rejects(readImageFile(empty), ImageError, empty, /empty file/);
  });

  it('refuses a file over maxBytes before reading it', async () => {
    const rocket = path.join(fixtures, 'rocket.jpg');
    await rejects(readImageFile(rocket, { maxBytes: 100_000 }), ImageError, rocket, /file too large: 112525 bytes, the limit is 100000/);
  });
});
