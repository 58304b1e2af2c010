/* global self */
/**
 * The browser face detector off the main thread (browser-faces-core.js in a module worker).
 * Messages: {id, type:'init'} → {id, ok}; {id, type:'detect', bitmap} → {id, ok, faces:[{box, score}]}
 * (boxes in the bitmap's pixels).
 */
import { detectFaces, loadDetectors } from './browser-faces-core.js';

let detectors = null;

self.onmessage = async (e) => {
  const { id, type } = e.data;
  try {
    if (type === 'init') {
      detectors = await loadDetectors(true);
      self.postMessage({ id, ok: true });
    } else if (type === 'detect') {
      const { bitmap } = e.data;
      const faces = detectFaces(detectors, bitmap, bitmap.width, bitmap.height);
      bitmap.close();
      self.postMessage({ id, ok: true, faces });
    }
  } catch (err) {
    self.postMessage({ id, ok: false, error: String(err?.message ?? err).split('\n')[0] });
  }
};
