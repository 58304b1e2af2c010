/**
 * The CLI as shipped: `bin/vibe-curate.mjs` runs the compiled JavaScript in dist/ (no TypeScript
 * transform at run time), `--help` loads no heavy module, and every command is listed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, REPO } from '../services/cli-run.ts';
import { buildProgram, COMMANDS, commandOf } from '../../cli/main.ts';
import { CliContext } from '../../cli/context.ts';

/** Runs the bin with a module hook that writes every module URL it loads; returns the URLs. */
function loadedModules(args: string[]): { urls: string[]; stdout: string; code: number | null } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vc-startup-'));
  const log = path.join(dir, 'loaded.txt');
  writeFileSync(
    path.join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';\nexport async function resolve(s, c, next) { const r = await next(s, c); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; }\n`,
  );
  writeFileSync(path.join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(new URL(`file://${path.join(dir, 'hooks.mjs')}`).href)});\n`);
  writeFileSync(log, '');
  const r = spawnSync(process.execPath, ['--import', path.join(dir, 'register.mjs'), BIN, ...args], { cwd: REPO, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  return { urls: readFileSync(log, 'utf8').split('\n').filter(Boolean), stdout: r.stdout, code: r.status };
}

describe('the shipped CLI', () => {
  it('runs dist/ with no TypeScript and no heavy module for --help', () => {
    const { urls, stdout, code } = loadedModules(['--help']);
    expect(code).toBe(0);
    for (const name of Object.keys(COMMANDS)) expect(stdout).toContain(name);
    expect(urls.some((u) => u.includes('/dist/cli/main.js'))).toBe(true);
    expect(urls.filter((u) => u.endsWith('.ts') || u.includes('/node_modules/tsx/'))).toEqual([]);
    const heavy = ['sharp', 'onnxruntime-node', '@electric-sql/pglite', 'bullmq', 'hono', 'drizzle-orm', 'ioredis', 'openai', 'pg', 'zod'];
    expect(urls.filter((u) => heavy.some((h) => u.includes(`/node_modules/${h}/`)))).toEqual([]);
  });

  it('loads only the chosen command: `status --help` imports no image code, face model runtime or web server', () => {
    const { urls, stdout, code } = loadedModules(['status', '--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: vibe-curate status');
    expect(urls.some((u) => u.includes('/dist/cli/status.js'))).toBe(true);
    expect(urls.filter((u) => ['sharp', 'onnxruntime-node', 'hono', '@hono/node-server'].some((h) => u.includes(`/node_modules/${h}/`)))).toEqual([]);
  });
});

describe('the command table', () => {
  it('lists exactly the commands the modules define, each with its summary', async () => {
    const ctx = new CliContext({});
    await ctx.load();
    const program = await buildProgram(ctx);
    expect(program.commands.map((c) => c.name())).toEqual(Object.keys(COMMANDS));
    for (const c of program.commands) {
      expect(c.summary()).toBe(COMMANDS[c.name()]!.summary);
      expect(c.options.length + c.registeredArguments.length + c.commands.length).toBeGreaterThan(0); // the real definition, not a listing
    }
  });

  it('builds the program for each command alone, with that command defined in full', async () => {
    const ctx = new CliContext({});
    await ctx.load();
    for (const name of Object.keys(COMMANDS)) {
      const program = await buildProgram(ctx, [name]);
      expect(program.commands.map((c) => c.name()), name).toEqual(Object.keys(COMMANDS));
      const c = program.commands.find((x) => x.name() === name)!;
      expect(c.options.length + c.registeredArguments.length + c.commands.length, name).toBeGreaterThan(0);
    }
  });

  it('finds the command after global options and behind `help`', () => {
    expect(commandOf(['node', 'bin', '--verbose', 'export', '--kind', 'sft'])).toBe('export');
    expect(commandOf(['node', 'bin', 'help', 'inspect'])).toBe('inspect');
    expect(commandOf(['node', 'bin', '--help'])).toBeUndefined();
  });
});
