/**
 * Garbage collection for processes that run hard checks. A check allocates two decoded images
 * (4–5 MB each at 1.5 MP, outside the JS heap), so V8 starts a marking cycle every check or two.
 * With concurrent marking, V8's helper threads mark beside the main thread and compete for the
 * cores with libvips' decode threads and onnxruntime; the main thread then waits on them. Marking
 * on the main thread alone does the same work for less CPU and less waiting (figures in
 * test/bench/README.md, "Garbage collection in check workers").
 *
 * V8 reads this flag at the start of each marking cycle, so it can be turned off after start-up;
 * it applies to the whole process and is set once by the first check worker started in it.
 */
import v8 from 'node:v8';

let done = false;

/** Marks on the main thread only (no concurrent marking helpers) from the next collection on. */
export function markOnMainThread(): void {
  if (done) return;
  v8.setFlagsFromString('--no-concurrent-marking');
  done = true;
}
