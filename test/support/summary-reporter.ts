import { appendFileSync } from 'node:fs';
import path from 'node:path';
import type { Reporter, TestModule, TestRunEndReason, TestSuite } from 'vitest/node';

/**
 * Prints the one plain closing line CI reads: `N passed, N failed` (and skipped when any),
 * counted from the runner's own results. Whatever turns the run red counts as failed, so the
 * line never says `0 failed` for a red run:
 * - a failed test, and a test that was collected but never finished (its worker died);
 * - a file or suite that failed outside its tests: a file that does not load or collect, a
 *   `beforeAll` that throws (its tests are then reported as skipped) or an `afterAll` that does;
 * - each error outside any test (an unhandled rejection, a crashed worker);
 * - a run that vitest ends as failed or interrupted for none of these reasons counts once.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(
    testModules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<unknown>,
    reason: TestRunEndReason,
  ) {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    /** One line per failure, as the run ends: a long log's tail still names the first ones. */
    const failures: string[] = [];
    for (const module of testModules) {
      let failedHere = 0;
      const file = path.relative(process.cwd(), module.moduleId);
      for (const test of module.children.allTests()) {
        const result = test.result();
        if (result.state === 'passed') passed += 1;
        else if (result.state === 'skipped') skipped += 1;
        else {
          failedHere += 1;
          failures.push(`${file} > ${test.fullName}: ${firstLine(result.errors?.[0])}`);
        }
      }
      const suites: Array<TestModule | TestSuite> = [module, ...module.children.allSuites()];
      for (const suite of suites) {
        const [error] = suite.errors();
        if (!error) continue;
        failedHere += 1;
        const name = suite.type === 'module' ? '' : ` > ${suite.fullName}`;
        failures.push(`${file}${name}: ${firstLine(error)}`);
      }
      // A file vitest marks failed counts at least once, whatever it failed on.
      if (module.state() === 'failed' && failedHere === 0) {
        failedHere = 1;
        failures.push(`${file}: ${firstLine(module.errors()[0])}`);
      }
      failed += failedHere;
    }
    failed += unhandledErrors.length;
    for (const error of unhandledErrors) failures.push(`outside any test: ${firstLine(error)}`);
    if (reason !== 'passed' && failed === 0) failed = 1;
    const tail = skipped > 0 ? `, ${skipped} skipped` : '';
    const listed = failures.map((line) => `FAILED ${line}\n`).join('');
    process.stdout.write(`\n${listed}${passed} passed, ${failed} failed${tail}\n`);
    // `.ci/run` runs the main suite and the fault suite, then closes with their sum and the
    // list of what failed.
    const summaryFile = process.env.REELROOM_TEST_SUMMARY_FILE;
    if (summaryFile) {
      appendFileSync(summaryFile, `${passed} ${failed} ${skipped}\n`);
      if (listed) appendFileSync(`${summaryFile}.failures`, listed);
    }
  }
}

/** The first line of an error's message, cut to a length a log line can hold. */
function firstLine(error: unknown): string {
  const message =
    typeof error === 'object' && error !== null && 'message' in error
      ? String((error as { message: unknown }).message)
      : String(error);
  const line = message.split('\n')[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
