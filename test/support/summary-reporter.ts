import { appendFileSync } from 'node:fs';
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
    for (const module of testModules) {
      let failedHere = 0;
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed += 1;
        else if (state === 'skipped') skipped += 1;
        else failedHere += 1;
      }
      const suites: Array<TestModule | TestSuite> = [module, ...module.children.allSuites()];
      failedHere += suites.filter((suite) => suite.errors().length > 0).length;
      // A file vitest marks failed counts at least once, whatever it failed on.
      if (module.state() === 'failed' && failedHere === 0) failedHere = 1;
      failed += failedHere;
    }
    failed += unhandledErrors.length;
    if (reason !== 'passed' && failed === 0) failed = 1;
    const tail = skipped > 0 ? `, ${skipped} skipped` : '';
    process.stdout.write(`\n${passed} passed, ${failed} failed${tail}\n`);
    // `.ci/run` runs the main suite and the fault suite, then closes with their sum.
    const summaryFile = process.env.REELROOM_TEST_SUMMARY_FILE;
    if (summaryFile) appendFileSync(summaryFile, `${passed} ${failed} ${skipped}\n`);
  }
}
