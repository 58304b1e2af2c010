/**
 * The built-in editor's geometric ops, rotate and zoom, in one place: the editor renders them
 * (editor.ts) and the metric judge puts the source through the same op to know what the asked
 * edit should look like (instruction-measures.ts). Both results keep the source's size.
 */
import sharp, { type Sharp } from 'sharp';

/** 3-channel sRGB pixels, row-major. */
export interface RgbPixels {
  data: Buffer;
  width: number;
  height: number;
}

export const fromRaw = (r: RgbPixels): Sharp => sharp(r.data, { raw: { width: r.width, height: r.height, channels: 3 } });

/** Runs a sharp pipeline to 3-channel sRGB pixels. */
export async function toRaw(img: Sharp): Promise<RgbPixels> {
  const { data, info } = await img.toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`expected 3 channels, got ${info.channels}`);
  return { data, width: info.width, height: info.height };
}

/** Rotates by `deg` (clockwise) and brings the result back to the source size: cover-resize for a quarter turn of a non-square image, a centre crop otherwise. */
export async function rotate(src: RgbPixels, deg: number): Promise<RgbPixels> {
  const { width: w, height: h } = src;
  const turned = await toRaw(fromRaw(src).rotate(deg, { background: '#000000' }));
  if (turned.width === w && turned.height === h) return turned;
  if (turned.width >= w && turned.height >= h && (turned.width !== h || turned.height !== w)) {
    const left = Math.floor((turned.width - w) / 2);
    const top = Math.floor((turned.height - h) / 2);
    return toRaw(fromRaw(turned).extract({ left, top, width: w, height: h }));
  }
  return toRaw(fromRaw(turned).resize(w, h, { fit: 'cover', position: 'centre' }));
}

/** The zoom factors the editor renders: 1.02–8. */
const clampZoom = (f: number): number => Math.min(8, Math.max(1.02, f));

/** Crops the centre 1/f of the image (f clamped to 1.02–8) and scales it back up to the source size. */
export async function zoomCentre(src: RgbPixels, f: number): Promise<RgbPixels> {
  const { width: w, height: h } = src;
  const z = clampZoom(f);
  const cw = Math.max(1, Math.round(w / z));
  const ch = Math.max(1, Math.round(h / z));
  return toRaw(
    fromRaw(src)
      .extract({ left: Math.floor((w - cw) / 2), top: Math.floor((h - ch) / 2), width: cw, height: ch })
      .resize(w, h, { fit: 'fill', kernel: 'lanczos3' }),
  );
}
