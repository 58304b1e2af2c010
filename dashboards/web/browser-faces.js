/* global Worker, createImageBitmap, OffscreenCanvas */
/**
 * MediaPipe's FaceDetector in the reviewer's browser, a second opinion beside the server's
 * BlazeFace (protocol: browser-faces-core.js): in a module worker when the browser can
 * (OffscreenCanvas), else on the main thread.
 * Everything comes from the dashboard (/mediapipe/…): no request leaves its origin.
 */

/** What the posted results name: the finding model, and the model and zoom that measured each face. */
export const BROWSER_MODEL = 'face_detection_full_range';
export const BROWSER_VERIFY = 'face_detection_short_range@3.5';

async function inWorker() {
  const worker = new Worker('/static/browser-faces-worker.js', { type: 'module' });
  let next = 0;
  const waiting = new Map();
  worker.onmessage = (e) => {
    const w = waiting.get(e.data.id);
    waiting.delete(e.data.id);
    if (e.data.ok) w?.resolve(e.data);
    else w?.reject(new Error(e.data.error));
  };
  worker.onerror = (e) => {
    for (const w of waiting.values()) w.reject(new Error(e.message || 'worker failed'));
    waiting.clear();
  };
  const call = (msg, transfer = []) =>
    new Promise((resolve, reject) => {
      const id = ++next;
      waiting.set(id, { resolve, reject });
      worker.postMessage({ ...msg, id }, transfer);
    });
  try {
    await call({ type: 'init' });
  } catch (err) {
    worker.terminate();
    throw err;
  }
  return {
    where: 'worker',
    async detect(img) {
      const bitmap = await createImageBitmap(img);
      return (await call({ type: 'detect', bitmap }, [bitmap])).faces;
    },
  };
}

async function onMainThread() {
  const { detectFaces, loadDetectors } = await import('./browser-faces-core.js');
  const detectors = await loadDetectors(false);
  return { where: 'main', detect: async (img) => detectFaces(detectors, img, img.naturalWidth, img.naturalHeight) };
}

let loading = null;

/** The detector, loaded once per page: {where: 'worker'|'main', detect(img) → [{box (image pixels), score}]}. */
export function browserFaceDetector() {
  loading ??= (typeof OffscreenCanvas === 'undefined' ? Promise.reject(new Error('no OffscreenCanvas')) : inWorker()).catch((err) => {
    console.warn(`browser faces: worker unavailable (${err.message}); running on the main thread`);
    return onMainThread();
  });
  loading.catch(() => (loading = null));
  return loading;
}
