/* global OffscreenCanvas */
/**
 * The browser detector's protocol, shared by the worker and the main-thread fallback: MediaPipe's
 * full-range FaceDetector finds faces on the whole image, then each face is measured again by the
 * short-range model on a square crop VERIFY_ZOOM times its size (outside the image reads black),
 * the face nearest the crop's centre taken: the same find-then-measure protocol as the server's
 * BlazeFace, so the two boxes are comparable.
 */
import { FaceDetector, FilesetResolver } from '/mediapipe/vision_bundle.mjs';

export const FIND_MODEL = 'face_detection_full_range';
export const VERIFY_MODEL = 'face_detection_short_range';
export const VERIFY_ZOOM = 3.5;

const toFaces = (r) => r.detections.map((d) => ({ box: [d.boundingBox.originX, d.boundingBox.originY, d.boundingBox.width, d.boundingBox.height], score: d.categories[0]?.score ?? 0 }));

/** Loads both models (WASM and models from the dashboard; CPU delegate). `useModule`: in a module worker. */
export async function loadDetectors(useModule) {
  const files = await FilesetResolver.forVisionTasks('/mediapipe/wasm', useModule);
  const make = (model) => FaceDetector.createFromOptions(files, { baseOptions: { modelAssetPath: `/mediapipe/models/${model}.tflite`, delegate: 'CPU' }, runningMode: 'IMAGE' });
  const [find, verify] = await Promise.all([make(FIND_MODEL), make(VERIFY_MODEL)]);
  return { find, verify };
}

/** Faces in `image` (ImageBitmap or image element; boxes in its pixels). */
export function detectFaces({ find, verify }, image, width, height) {
  return toFaces(find.detect(image)).map((f) => {
    const side = Math.round(VERIFY_ZOOM * Math.max(f.box[2], f.box[3]));
    if (side >= Math.max(width, height)) return f; // the whole image already measured it at this scale
    const x0 = Math.round(f.box[0] + f.box[2] / 2 - side / 2);
    const y0 = Math.round(f.box[1] + f.box[3] / 2 - side / 2);
    const canvas = new OffscreenCanvas(side, side);
    const g = canvas.getContext('2d');
    g.fillStyle = '#000';
    g.fillRect(0, 0, side, side);
    g.drawImage(image, -x0, -y0);
    const near = toFaces(verify.detect(canvas))
      .map((m) => ({ ...m, d: Math.hypot(m.box[0] + m.box[2] / 2 - side / 2, m.box[1] + m.box[3] / 2 - side / 2) }))
      .filter((m) => m.d < side / 4)
      .sort((a, b) => a.d - b.d)[0];
    return near ? { box: [near.box[0] + x0, near.box[1] + y0, near.box[2], near.box[3]], score: near.score } : f;
  });
}
