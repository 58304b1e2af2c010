/**
 * The source tree's folders form a layered graph: draw an edge A -> B when a module directly in
 * folder A imports a module directly in folder B (static, `import type`, `export ... from`, or a
 * dynamic `import('...')` with a literal path). No folder may import from a folder that imports
 * it back, at any depth, so the graph must be acyclic. Tests (test/) sit outside the graph. The
 * built-in stand-ins (pipeline/builtin/) are imported only where clients are chosen: cli/, workers/.
 */
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const REPO = path.resolve(import.meta.dirname, '../..');
/** Folders that are not the project's own source, or are tests. */
const SKIP = new Set(['node_modules', 'dist', 'test', 'data', 'test-output', 'vendor']);
const SOURCE = /\.(ts|mts|js|mjs)$/;

async function sourceFiles(root: string, dir = root): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP.has(entry.name)) out.push(...(await sourceFiles(root, full)));
    } else if (SOURCE.test(entry.name) && !entry.name.endsWith('.d.ts') && !/\.test\.ts$/.test(entry.name)) {
      out.push(full);
    }
  }
  return out;
}

/** Every module specifier `file` imports, found by the TypeScript scanner (which also sees type-only and dynamic imports). */
function importsOf(source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map((f) => f.fileName);
}

function folderOf(root: string, file: string): string {
  return path.relative(root, path.dirname(file)) || '.';
}

/** Folder -> folder -> the files (relative to root) whose imports make that edge. */
type FolderGraph = Map<string, Map<string, string[]>>;

export async function folderGraph(root: string): Promise<FolderGraph> {
  const graph: FolderGraph = new Map();
  for (const file of await sourceFiles(root)) {
    const from = folderOf(root, file);
    const edges = graph.get(from) ?? new Map<string, string[]>();
    graph.set(from, edges);
    for (const spec of importsOf(await readFile(file, 'utf8'))) {
      if (!spec.startsWith('./') && !spec.startsWith('../')) continue; // packages and node: builtins
      const to = folderOf(root, path.resolve(path.dirname(file), spec));
      if (to === from) continue;
      const files = edges.get(to) ?? [];
      const rel = path.relative(root, file);
      if (!files.includes(rel)) files.push(rel);
      edges.set(to, files);
    }
  }
  return graph;
}

/** One cycle in the graph as a list of folders (first repeated at the end), or undefined when it is acyclic. */
export function findCycle(graph: FolderGraph): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of [...(graph.get(node)?.keys() ?? [])].sort()) {
      if (state.get(next) === 'open') return [...stack.slice(stack.indexOf(next)), next];
      if (!state.has(next)) {
        const found = visit(next);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of [...graph.keys()].sort()) {
    if (state.has(node)) continue;
    const found = visit(node);
    if (found) return found;
  }
  return undefined;
}

/** Folders that reach each other (strongly connected components of more than one folder), by Tarjan's algorithm. */
export function tangles(graph: FolderGraph): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, counter);
    low.set(node, counter++);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node)?.keys() ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1) out.push(component.sort());
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) visit(node);
  return out.sort((a, b) => a[0].localeCompare(b[0]));
}

/** Each tangle: one cycle through it, then every import edge inside it with the files that make it. */
function describeTangles(graph: FolderGraph): string {
  const lines: string[] = [];
  for (const component of tangles(graph)) {
    const inside = new Set(component);
    const sub: FolderGraph = new Map(
      component.map((f) => [f, new Map([...(graph.get(f) ?? [])].filter(([to]) => inside.has(to)))]),
    );
    lines.push(`folder cycle: ${findCycle(sub)!.join(' -> ')}`);
    for (const [from, edges] of sub) {
      for (const [to, files] of edges) lines.push(`  ${from} -> ${to}: ${files.join(', ')}`);
    }
  }
  return lines.length ? lines.join('\n') : 'acyclic';
}

describe('source layout', () => {
  it('finds a folder cycle through static, type-only, re-export and dynamic imports', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'vc-layout-'));
    try {
      const put = async (file: string, text: string) => {
        await mkdir(path.dirname(path.join(root, file)), { recursive: true });
        await writeFile(path.join(root, file), text);
      };
      await put('a/one.ts', "import { b } from '../b/two.ts';\nexport const a = b;\n");
      await put('b/two.ts', "export { c as b } from './inner/three.ts';\n");
      await put('b/inner/three.ts', "import type { D } from '../../d/four.ts';\nexport const c: D = 1;\n");
      await put('d/four.ts', "export type D = number;\nexport const load = () => import('../a/one.ts');\n");
      await put('test/ignored.ts', "import '../a/one.ts';\n");
      const graph = await folderGraph(root);
      expect([...graph.keys()].sort()).toEqual(['a', 'b', 'b/inner', 'd']);
      const cycle = findCycle(graph);
      expect(cycle).toEqual(['a', 'b', 'b/inner', 'd', 'a']);
      expect(tangles(graph)).toEqual([['a', 'b', 'b/inner', 'd']]);
      expect(describeTangles(graph)).toContain('d -> a: d/four.ts');

      await put('d/four.ts', 'export type D = number;\n');
      const fixed = await folderGraph(root);
      expect(findCycle(fixed)).toBeUndefined();
      expect(describeTangles(fixed)).toBe('acyclic');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('no source folder imports from a folder that imports it back', async () => {
    const graph = await folderGraph(REPO);
    expect(graph.has('pipeline')).toBe(true);
    expect(describeTangles(graph)).toBe('acyclic');
  });

  it('only the composition points (cli/, workers/) import the built-in stand-ins in pipeline/builtin/', async () => {
    const graph = await folderGraph(REPO);
    const importers = [...graph].filter(([, edges]) => edges.has('pipeline/builtin')).map(([from]) => from);
    expect(importers.length).toBeGreaterThan(0);
    const others = importers
      .filter((from) => from !== 'cli' && from !== 'workers')
      .map((from) => `${from}: ${graph.get(from)!.get('pipeline/builtin')!.join(', ')}`);
    expect(others).toEqual([]);
  });
});
