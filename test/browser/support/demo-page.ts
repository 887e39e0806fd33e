import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { REPO_ROOT } from '../../support/processes.ts';

/** The password the browser tests sign their users up with. */
export const PASSWORD = 'correct horse battery';

/** The script editor's editable surface (CodeMirror's content, accessible name `Script`). */
export const SCRIPT_EDITOR = '#script .cm-content';

/** Logs in through the page's form and waits for the project list. */
export async function logIn(page: Page, email: string, password = PASSWORD): Promise<void> {
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.click('#login');
  await page.waitForSelector('#projects-view:not([hidden])');
}

/** Opens a project from the list and waits until its documents and room are connected. */
export async function openProject(page: Page, projectId: string): Promise<void> {
  await page.click(`#projects li[data-project-id="${projectId}"] button`);
  await page.waitForSelector(`#project-view[data-project-id="${projectId}"]:not([hidden])`);
  // The editor is made once the script document has synced.
  await page.waitForFunction(
    () => document.getElementById('doc-status')?.textContent === 'connected',
  );
  await page.waitForSelector(SCRIPT_EDITOR);
}

interface EditorHost {
  reelroomEditor?: {
    state: { doc: { toString(): string; length: number } };
    dispatch(spec: { changes: { from: number; to: number; insert: string } }): void;
  };
}

/** The text in the page's script editor (CodeMirror's document). */
export function scriptOf(page: Page): Promise<string> {
  return page.$eval('#script', (host) => {
    const view = (host as unknown as EditorHost).reelroomEditor;
    return view ? view.state.doc.toString() : '';
  });
}

/** Replaces the script in the page's editor, as a paste over everything would. */
export async function setScript(page: Page, text: string): Promise<void> {
  await page.$eval(
    '#script',
    (host, insert) => {
      const view = (host as unknown as EditorHost).reelroomEditor!;
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert } });
    },
    text,
  );
}

/**
 * Serious and critical accessibility violations axe-core finds on the page as it is now
 * (axe-core from node_modules, injected into the page).
 */
export async function seriousViolations(page: Page): Promise<string[]> {
  const axe = readFileSync(path.join(REPO_ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');
  await page.addScriptTag({ content: axe });
  return page.evaluate(async () => {
    interface AxeResults {
      violations: Array<{ id: string; impact: string; nodes: Array<{ target: string[] }> }>;
    }
    const { axe } = window as unknown as { axe: { run(): Promise<AxeResults> } };
    const { violations } = await axe.run();
    return violations
      .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
      .map(
        (violation) =>
          `${violation.id} (${violation.impact}): ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`,
      );
  });
}

/** Where screenshots for a person to look at go (gitignored). */
export const ARTIFACTS = path.join(REPO_ROOT, 'test/browser/artifacts');

/** A screenshot function whose files are named `<prefix>-<name>.png` in {@link ARTIFACTS}. */
export function screenshotsNamed(prefix: string): (page: Page, name: string) => Promise<Buffer> {
  mkdirSync(ARTIFACTS, { recursive: true });
  return (page, name) =>
    page.screenshot({ path: path.join(ARTIFACTS, `${prefix}-${name}.png`), fullPage: true });
}

/** Debian's Chromium (`apt-get install chromium`; `.ci/run` installs it). */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Starts headless Chromium, or throws saying how to install it: the browser is part of the
 * suite as Postgres and Redis are, so a missing one fails the file's tests instead of skipping.
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: the browser tests need Debian's chromium (apt-get install chromium, as .ci/run does)`,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}

type Viewport = { width: number; height: number };

/** The web app's pages of one browser test file, and what they said. */
export interface WebAppPages {
  /** A page in a browser context of its own, with the web app open at `/`. */
  open(viewport?: Viewport): Promise<Page>;
  /** Uncaught errors of the pages' scripts, for the file's "ran without script errors" test. */
  readonly errors: string[];
  /** For `afterEach`: prints what the pages said during a test that failed, then forgets it. */
  afterEach(context: { task: { name: string; result?: { state?: string } } }): void;
}

/**
 * Opens the web app for a browser test file. `browser` and `url` are read at each `open`, as
 * the file starts them in `beforeAll`. What the pages say goes into a journal: console errors
 * and warnings, failed requests, uncaught errors and crashes. A browser test that times out
 * says only what it waited for; the journal, printed under a failed test, says what the page
 * was doing meanwhile.
 */
export function webAppPages(options: {
  browser: () => Browser;
  url: () => string;
  /** Playwright's default timeout for each action of the pages. */
  timeoutMs: number;
  viewport?: Viewport;
  /** Runs on each new page before it opens the app (e.g. `page.route` for an outside site). */
  prepare?: (page: Page) => Promise<unknown>;
}): WebAppPages {
  const errors: string[] = [];
  const journal: string[] = [];
  let pages = 0;
  const started = Date.now();
  const note = (label: string, text: string) =>
    journal.push(`+${((Date.now() - started) / 1000).toFixed(1)}s ${label} ${text}`);
  return {
    errors,
    async open(viewport = options.viewport ?? { width: 1280, height: 1000 }) {
      const context = await options.browser().newContext({ viewport });
      const page = await context.newPage();
      page.setDefaultTimeout(options.timeoutMs);
      const label = `page ${++pages}`;
      page.on('pageerror', (error) => {
        errors.push(error.message);
        note(label, `uncaught: ${error.message}`);
      });
      page.on('console', (message) => {
        if (message.type() === 'error' || message.type() === 'warning') {
          note(label, `console.${message.type()}: ${message.text()}`);
        }
      });
      page.on('requestfailed', (request) =>
        note(label, `${request.method()} ${request.url()} failed: ${request.failure()?.errorText}`),
      );
      page.on('crash', () => note(label, 'crashed'));
      await options.prepare?.(page);
      await page.goto(`${options.url()}/`);
      return page;
    },
    afterEach(context) {
      if (context.task.result?.state === 'fail' && journal.length > 0) {
        console.log(
          `[browser] "${context.task.name}", the pages said:\n${journal.slice(-40).join('\n')}`,
        );
      }
      journal.length = 0;
    },
  };
}
