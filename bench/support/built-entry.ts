import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from '../../test/support/processes.ts';

let built = false;

/**
 * The bundle `npm start` runs for one of our entry points (`main`, `api-main`, ...), built once
 * per benchmark run: a benchmark measures the node as it is deployed, not under tsx.
 */
export function builtEntry(name: 'main' | 'api-main' | 'worker-main'): string {
  if (!built) {
    execFileSync(process.execPath, ['scripts/build-server.mjs'], { cwd: REPO_ROOT });
    built = true;
  }
  return path.join('.build', `${name}.mjs`);
}
