// Part of `npm run build`: the files the compiled modules read at run time, copied next to them
// in dist/ so that relative paths resolve the same from the sources and from dist/.
import { cpSync, rmSync } from 'node:fs';

for (const dir of ['migrations', 'dashboards/web']) {
  rmSync(`dist/${dir}`, { recursive: true, force: true });
  cpSync(dir, `dist/${dir}`, { recursive: true });
}
