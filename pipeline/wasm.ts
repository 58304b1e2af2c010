/**
 * The WebAssembly kernels' shared plumbing (pipeline/checks/*.wat, pipeline/faces/*.wat): each
 * module compiled once per process from its committed base64 (`*.wasm.ts`, made by
 * scripts/build-wasm.mjs), and the copy of image bytes into a module's memory.
 */

/**
 * The module's exports, compiled on the first call (`init` runs once, on them); null where this
 * runtime has no WebAssembly (or no SIMD), and the JS loops run instead.
 */
export function lazyWasm<T>(base64: string, init?: (exports: T) => void): () => T | null {
  let exports: T | null | undefined;
  return () => {
    if (exports === undefined) {
      try {
        exports = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(base64, 'base64'))).exports as unknown as T;
        init?.(exports);
      } catch {
        exports = null;
      }
    }
    return exports;
  };
}

/** Bytes [start, end) of `from` to `to` at `at`, with no view object per call (kernels copy an image's rows one by one). */
export function copyBytes(from: Uint8Array, to: Uint8Array, at: number, start: number, end: number): void {
  Buffer.prototype.copy.call(from, to, at, start, end);
}
