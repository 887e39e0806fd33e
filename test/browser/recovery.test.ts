import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Session } from '../../shared/accounts.ts';
import { freePort, type NodeProcess, spawnEntry } from '../support/processes.ts';
import { requestTo } from '../support/test-node.ts';
import {
  launchChromium,
  logIn,
  openProject,
  PASSWORD,
  SCRIPT_EDITOR,
  screenshotsNamed,
  scriptOf,
  seriousViolations,
  webAppPages,
} from './support/demo-page.ts';

// The web app against a real server process (embedded mode: PGlite under a fixed DATA_DIR, a
// fixed PORT) that is killed and started again mid-session: the pages must say so, come back
// by themselves, and lose nothing. And the offline coach streams and offers clickable steps.

const WAIT = { timeout: 20_000, interval: 100 };
/** A server process starting (tsx, PGlite, migrations) on a busy 2-core box: 15 s to minutes. */
const START_TIMEOUT_MS = 180_000;
const RECOVER = { timeout: 60_000, interval: 200 };

const dataDir = mkdtempSync(path.join(tmpdir(), 'reelroom-recovery-'));
let env: Record<string, string>;
let url: string;
let server: NodeProcess | undefined;
let browser: Browser;
/** The web app's pages; what they said is printed under a test that fails. */
const pages = webAppPages({
  browser: () => browser,
  url: () => url,
  timeoutMs: WAIT.timeout,
});
afterEach((context) => pages.afterEach(context));
const newPage = pages.open;

function startServer(): Promise<NodeProcess> {
  return spawnEntry('server/main.ts', env, { url, timeoutMs: START_TIMEOUT_MS });
}

beforeAll(async () => {
  // A fixed port: the pages must find the restarted server where the old one was.
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  env = { DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' };
  [server, browser] = await Promise.all([startServer(), launchChromium()]);
}, START_TIMEOUT_MS + 30_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

const request = (pathname: string, init?: Parameters<ReturnType<typeof requestTo>>[1]) =>
  requestTo(url)(pathname, init);

async function signup(name: string): Promise<Session> {
  const response = await request('/api/v1/auth/signup', {
    method: 'POST',
    json: {
      email: `${name.toLowerCase().replace(/\W+/g, '-')}-${Date.now()}@example.test`,
      password: PASSWORD,
      name,
    },
  });
  expect(response.status).toBe(201);
  return (await response.json()) as Session;
}

const screenshot = screenshotsNamed('recovery');

const status = (page: Page) => page.textContent('#doc-status');
const presence = async (page: Page) =>
  (await page.locator('#presence li').allTextContents()).sort();

/**
 * Records, in the page, every different length the coach reply's Markdown had while it was
 * still streaming: more than a few means it arrived word by word, not in one piece.
 */
async function recordStreaming(page: Page): Promise<void> {
  await page.evaluate(() => {
    const seen = new Set<number>();
    (window as unknown as { streamedLengths: Set<number> }).streamedLengths = seen;
    new MutationObserver(() => {
      for (const text of document.querySelectorAll<HTMLElement>(
        '#chat-log li.assistant[data-status="streaming"] .text',
      )) {
        seen.add((text.dataset.markdown ?? '').length);
      }
    }).observe(document.getElementById('chat-log')!, {
      subtree: true,
      childList: true,
      attributes: true,
    });
  });
}

const streamedLengths = (page: Page) =>
  page.evaluate(() => (window as unknown as { streamedLengths: Set<number> }).streamedLengths.size);

describe('web app against a server process that restarts mid-session', () => {
  let owner: Session;
  let editor: Session;
  let projectId: string;
  let pageA: Page;
  let pageB: Page;

  const doneReplies = (page: Page) =>
    page.locator('#chat-log li.assistant[data-status="done"]').count();

  async function ask(page: Page, question: string): Promise<void> {
    await page.fill('#chat-input', question);
    await page.click('#chat-send');
  }

  it('opens one project for two members, both connected and present', async () => {
    owner = await signup('Ada Owner');
    editor = await signup('Bea Editor');
    const { workspaces } = (await (
      await request('/api/v1/workspaces', { token: owner.accessToken })
    ).json()) as { workspaces: Array<{ id: string }> };
    const workspaceId = workspaces[0]!.id;
    const added = await request(`/api/v1/workspaces/${workspaceId}/members`, {
      method: 'POST',
      token: owner.accessToken,
      json: { email: editor.user.email, role: 'editor' },
    });
    expect(added.status).toBe(201);
    const created = await request('/api/v1/projects', {
      method: 'POST',
      token: owner.accessToken,
      json: { workspaceId, title: 'Launch video', topic: 'A paid community for video editors' },
    });
    projectId = ((await created.json()) as { project: { id: string } }).project.id;

    [pageA, pageB] = await Promise.all([newPage(), newPage()]);
    await Promise.all([logIn(pageA, owner.user.email), logIn(pageB, editor.user.email)]);
    await Promise.all([openProject(pageA, projectId), openProject(pageB, projectId)]);
    for (const page of [pageA, pageB]) {
      await vi.waitFor(async () => {
        expect(await presence(page)).toEqual(['Ada Owner', 'Bea Editor']);
      }, WAIT);
      expect(await page.getAttribute('#doc-status', 'data-state')).toBe('connected');
    }
  });

  it('streams the offline coach word by word to both pages, with a suggestion that starts a plan', async () => {
    await Promise.all([recordStreaming(pageA), recordStreaming(pageB)]);
    await ask(pageA, 'Where do we start?');
    // Mid-stream in the other member's page.
    await pageB.waitForSelector('#chat-log li.assistant[data-status="streaming"] .text p');
    await screenshot(pageB, 'coach-streaming');
    for (const page of [pageA, pageB]) {
      await vi.waitFor(async () => expect(await doneReplies(page)).toBe(1), WAIT);
      // Tens of different lengths: it came in word by word, not as one piece.
      expect(await streamedLengths(page)).toBeGreaterThan(10);
    }
    const reply = (await pageB.getAttribute('#chat-log li.assistant .text', 'data-markdown'))!;
    expect(reply).toMatch(/^\[Offline coach\]/);
    // In the page's words: no REST instructions.
    expect(reply).not.toMatch(/POST|GET |\/projects\//);
    expect(reply).toContain('**Plan** panel');

    // Its suggestions are buttons; the editor starts a plan with one, both pages get it.
    const start = pageB.locator('#chat-log li.assistant button.coach-action', {
      hasText: 'Start "Launch a premium community"',
    });
    expect(await start.count()).toBe(1);
    expect(await pageB.locator('#chat-log li.assistant .text a').count()).toBe(0);
    expect(await seriousViolations(pageB)).toEqual([]);
    await start.click();
    for (const page of [pageA, pageB]) {
      await page.waitForSelector('#plan-body li[data-task-id]');
    }
    await pageB.waitForSelector('#chat-log .action-done');
    const plan = await request(`/api/v1/projects/${projectId}/plan`, { token: owner.accessToken });
    expect(((await plan.json()) as { plan: { templateId: string } }).plan.templateId).toBe(
      'premium-community',
    );
    await screenshot(pageB, 'coach-action');
  });

  it(
    'says "reconnecting…" while the server is down, recovers by itself, and loses no edit',
    async () => {
      await pageA.click(SCRIPT_EDITOR);
      await pageA.keyboard.type('Before the restart.');
      await vi.waitFor(async () => expect(await scriptOf(pageB)).toBe('Before the restart.'), WAIT);

      await server!.stop('SIGKILL');
      for (const page of [pageA, pageB]) {
        await vi.waitFor(async () => expect(await status(page)).toBe('reconnecting…'), WAIT);
        expect(await page.getAttribute('#presence', 'class')).toContain('stale');
      }
      await screenshot(pageA, 'reconnecting');
      expect(await seriousViolations(pageA)).toEqual([]);

      // Both keep typing while the server is away, each at their own end of the script (on
      // lines of their own: a line wider than the editor makes it scroll sideways, which axe
      // flags as a scrollable region without focus, a finding of the editor, not of recovery).
      await pageA.focus(SCRIPT_EDITOR);
      await pageA.keyboard.press('Control+End');
      await pageA.keyboard.type('\nAda offline.', { delay: 20 });
      await pageB.focus(SCRIPT_EDITOR);
      await pageB.keyboard.press('Control+Home');
      await pageB.keyboard.type('Bea offline.\n', { delay: 20 });
      const restarting = performance.now();
      server = await startServer();
      console.log(`server process back after ${Math.round(performance.now() - restarting)} ms`);

      const recovering = performance.now();
      for (const page of [pageA, pageB]) {
        await vi.waitFor(async () => expect(await status(page)).toBe('connected'), RECOVER);
      }
      console.log(
        `both pages connected ${Math.round(performance.now() - recovering)} ms after the server was up`,
      );
      const expected = 'Bea offline.\nBefore the restart.\nAda offline.';
      for (const page of [pageA, pageB]) {
        await vi.waitFor(async () => expect(await scriptOf(page)).toBe(expected), WAIT);
        await vi.waitFor(async () => {
          expect(await presence(page)).toEqual(['Ada Owner', 'Bea Editor']);
        }, WAIT);
        expect(await page.getAttribute('#presence', 'class')).not.toContain('stale');
      }
      await vi.waitFor(async () => {
        const response = await request(`/api/v1/projects/${projectId}/script`, {
          token: editor.accessToken,
        });
        expect(((await response.json()) as { script: { text: string } }).script.text).toBe(
          expected,
        );
      }, WAIT);
      await screenshot(pageB, 'recovered');

      // The rooms were joined again: a coach message after the restart streams to both pages.
      await ask(pageB, 'What is next after the restart?');
      for (const page of [pageA, pageB]) {
        await vi.waitFor(async () => {
          expect(await page.locator('#chat-log li.user .text').allTextContents()).toContain(
            'What is next after the restart?',
          );
          expect(await doneReplies(page)).toBe(2);
        }, WAIT);
      }
      expect(await pageA.textContent('#chat-error')).toBe('');
    },
    START_TIMEOUT_MS + 90_000,
  );

  it('makes the video from the suggestion in a coach reply', async () => {
    const make = pageA.locator('#chat-log li.assistant button.coach-action', {
      hasText: 'Make the video',
    });
    await vi.waitFor(async () => expect(await make.count()).toBeGreaterThan(0), WAIT);
    await make.last().click();
    await pageA.waitForSelector('#chat-log .action-done');
    for (const page of [pageA, pageB]) {
      await page.waitForSelector('#pipeline-runs li.run');
    }
    const runs = await request(`/api/v1/projects/${projectId}/pipeline-runs`, {
      token: owner.accessToken,
    });
    expect(((await runs.json()) as { runs: unknown[] }).runs).toHaveLength(1);
  });

  it('says "offline" while the browser has no network, then catches up by itself', async () => {
    const context = pageB.context();
    await context.setOffline(true);
    await vi.waitFor(async () => expect(await status(pageB)).toBe('offline'), WAIT);
    await screenshot(pageB, 'offline');
    expect(await seriousViolations(pageB)).toEqual([]);
    await pageB.focus(SCRIPT_EDITOR);
    await pageB.keyboard.press('Control+End');
    await pageB.keyboard.type('\nTyped offline.');
    await context.setOffline(false);
    await vi.waitFor(async () => expect(await status(pageB)).toBe('connected'), RECOVER);
    await vi.waitFor(async () => expect(await scriptOf(pageA)).toMatch(/\nTyped offline\.$/), WAIT);
  });

  it('ran without script errors in any page', () => {
    expect(pages.errors).toEqual([]);
  });
});
