// The closing `N passed, N failed` line CI reads (test/support/summary-reporter.ts) counts every
// way a run goes red, not only failed assertions: a file that does not load, a `beforeAll` that
// throws (vitest reports its tests as skipped) and an unhandled rejection.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/processes.ts';

const FIXTURES = path.join(REPO_ROOT, 'test/foundation/fixtures/summary-reporter');

function runVitest(root: string): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [path.join(REPO_ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--root', root],
      { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' } },
      (_error, stdout) => resolve({ code: child.exitCode, stdout }),
    );
  });
}

describe('summary reporter', () => {
  it('counts a file that fails to load, a failed beforeAll and an unhandled error as failed', async () => {
    const { code, stdout } = await runVitest(FIXTURES);
    // passes.fixture.ts and unhandled-rejection.fixture.ts pass their tests; the failures are
    // fails-to-load.fixture.ts, the beforeAll of before-all-throws.fixture.ts (whose two tests
    // are skipped) and the rejection.
    const lines = stdout.trimEnd().split('\n');
    expect(lines.at(-1)).toBe('2 passed, 3 failed, 2 skipped');
    // Above it, a line for each, so a log cut to its tail still says what failed.
    const failures = lines.filter((line) => line.startsWith('FAILED '));
    expect(failures).toHaveLength(3);
    expect(failures.find((line) => line.includes('fails-to-load.fixture.ts'))).toBeDefined();
    expect(failures.find((line) => line.includes('before-all-throws.fixture.ts'))).toBeDefined();
    expect(failures.find((line) => line.startsWith('FAILED outside any test'))).toBeDefined();
    expect(code).toBe(1);
  });
});
