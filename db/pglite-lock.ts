/**
 * The embedded database serves one process: PGlite keeps its pages in memory and writes them
 * back on its own schedule, so two processes on one directory silently lose each other's writes.
 * `lockPgliteDir` takes an exclusive lock file in the directory (created with O_EXCL, holding the
 * pid) before PGlite opens it; a second process is refused with one line naming the holder. A
 * lock whose pid is no longer alive (a killed process) is taken over.
 */
import { closeSync, existsSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../pipeline/errors/index.ts';

/** The lock file's name inside the PGlite directory. */
export const PGLITE_LOCK_FILE = 'vibe-curate.lock';

/** Locks this process holds, by directory, with how many open handles use each. */
const held = new Map<string, number>();
let exitHook = false;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, owned by someone else
  }
}

function readPid(file: string): number | null {
  try {
    const n = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isSafeInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/** Creates `file` holding our pid, atomically: false when it already exists. */
function create(file: string): boolean {
  // Written under a private name first, then hard-linked: the lock never exists half-written.
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

/**
 * Takes the lock on `dir` (created if missing) or throws ConfigError (exit 2)
 * `DIR: in use by pid N (…)`. Several handles of one process share the lock. Returns the release.
 */
export function lockPgliteDir(dir: string): () => void {
  const key = path.resolve(dir);
  const file = path.join(key, PGLITE_LOCK_FILE);
  const mine = held.get(key);
  if (mine) {
    held.set(key, mine + 1);
    return once(() => release(key));
  }
  mkdirSync(key, { recursive: true });
  for (let tries = 0; ; tries++) {
    // A live holder is refused before anything is written (not even a temp file).
    const pid = readPid(file);
    if (pid !== null && pid !== process.pid && alive(pid)) {
      throw new ConfigError(`in use by pid ${pid} (the embedded database serves one process; set DATABASE_URL to share Postgres)`, { subject: key });
    }
    if (pid === process.pid) break; // ours, left by a handle closed without release: keep it
    if (tries >= 3) throw new ConfigError(`cannot take the lock ${PGLITE_LOCK_FILE} (it keeps changing)`, { subject: key });
    if (pid !== null || existsSync(file)) {
      // A stale lock (its process is gone, or it is unreadable): take it over.
      try {
        unlinkSync(file);
      } catch {
        /* another process took it over first */
      }
    }
    if (create(file)) break; // else someone else created it just now: look again
  }
  held.set(key, 1);
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const k of held.keys()) removeIfOurs(path.join(k, PGLITE_LOCK_FILE));
    });
  }
  return once(() => release(key));
}

function release(key: string): void {
  const n = (held.get(key) ?? 0) - 1;
  if (n > 0) {
    held.set(key, n);
    return;
  }
  held.delete(key);
  removeIfOurs(path.join(key, PGLITE_LOCK_FILE));
}

function removeIfOurs(file: string): void {
  if (readPid(file) !== process.pid) return;
  try {
    unlinkSync(file);
  } catch {
    /* already gone */
  }
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}
