#!/usr/bin/env node
// Entry point: runs the TypeScript sources through tsx so a checkout needs no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
await main(process.argv);
