import { existsSync } from 'node:fs';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Session } from '../../shared/accounts.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';
import { logIn, openProject, PASSWORD } from './support/demo-page.ts';

/** Debian's Chromium (`apt-get install chromium`; `.ci/run` installs it). */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const WAIT = { timeout: 15_000, interval: 50 };

let node: TestNode;
let browser: Browser;
const contexts: BrowserContext[] = [];
/** Uncaught errors of the page scripts, by page. */
const pageErrors: string[] = [];

/** Why the browser could not start; every test then fails with it (a skip would hide it). */
let missingBrowser: Error | undefined;

beforeAll(async () => {
  node = await startTestNode();
  // Not a skip: the browser is part of the suite, as Postgres and Redis are.
  if (!existsSync(CHROMIUM)) {
    missingBrowser = new Error(
      `Chromium not found at ${CHROMIUM}: the browser tests need Debian's chromium (apt-get install chromium, as .ci/run does)`,
    );
    return;
  }
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox'],
  });
});

beforeEach(() => {
  if (missingBrowser) throw missingBrowser;
});

afterAll(async () => {
  await browser?.close();
  await node?.close();
});

async function newPage(): Promise<Page> {
  const context = await browser.newContext();
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT.timeout);
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`${node.url}/demo`);
  return page;
}

function scriptOf(page: Page): Promise<string> {
  return page.inputValue('#script');
}

function texts(page: Page, selector: string): Promise<string[]> {
  return page.locator(selector).allTextContents();
}

async function serverScript(projectId: string, token: string): Promise<string> {
  const response = await node.request(`/api/v1/projects/${projectId}/script`, { token });
  expect(response.status).toBe(200);
  return ((await response.json()) as { script: { text: string } }).script.text;
}

describe('demo page in Chromium, two members in one project', () => {
  let pageA: Page;
  let pageB: Page;
  let owner: Session;
  let editor: Session;
  let projectId: string;

  it('serves the page and its bundle from the node', async () => {
    const html = await node.request('/demo');
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await html.text()).toContain('<script type="module" src="/demo/app.js">');
    const js = await node.request('/demo/app.js');
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    const etag = js.headers.get('etag');
    expect((await js.text()).length).toBeGreaterThan(10_000);
    expect(
      (await node.request('/demo/app.js', { headers: { 'if-none-match': etag! } })).status,
    ).toBe(304);
  });

  it('signs up, creates a project and invites an editor from the page; the editor opens it', async () => {
    pageA = await newPage();
    const ownerEmail = `ada-${Date.now()}@example.test`;
    await pageA.fill('#email', ownerEmail);
    await pageA.fill('#password', PASSWORD);
    await pageA.fill('#name', 'Ada Owner');
    await pageA.click('#signup');
    await pageA.waitForSelector('#projects-view:not([hidden])');
    expect(await pageA.textContent('#whoami')).toContain('Ada Owner');

    await pageA.fill('#new-project-title', 'Launch video');
    await pageA.fill('#new-project-topic', 'A paid community for video editors');
    await pageA.click('#create-project');
    await pageA.waitForSelector('#project-view[data-project-id]:not([hidden])');
    projectId = (await pageA.getAttribute('#project-view', 'data-project-id'))!;

    // The independent view: the project exists on the server, in the owner's workspace.
    const login = await node.request('/api/v1/auth/login', {
      method: 'POST',
      json: { email: ownerEmail, password: PASSWORD },
    });
    owner = (await login.json()) as Session;
    const project = await node.request(`/api/v1/projects/${projectId}`, {
      token: owner.accessToken,
    });
    expect(project.status).toBe(200);
    const { project: created } = (await project.json()) as {
      project: { title: string; workspaceId: string };
    };
    expect(created.title).toBe('Launch video');

    // The second member signs up through REST; the owner invites them on the page.
    editor = await node.signup('Bea Editor');
    expect(await pageA.isHidden('#invite-form')).toBe(false);
    await pageA.fill('#invite-email', editor.user.email);
    await pageA.selectOption('#invite-role', 'editor');
    await pageA.click('#invite-send');
    await vi.waitFor(async () => {
      expect(await pageA.textContent('#invite-status')).toBe('Bea Editor joined as editor.');
    }, WAIT);
    const members = await node.request(`/api/v1/workspaces/${created.workspaceId}/members`, {
      token: owner.accessToken,
    });
    expect(
      ((await members.json()) as { members: Array<{ userId: string; role: string }> }).members,
    ).toContainEqual(expect.objectContaining({ userId: editor.user.id, role: 'editor' }));

    pageB = await newPage();
    await logIn(pageB, editor.user.email);
    await openProject(pageB, projectId);
    expect(await pageB.textContent('#project-title')).toBe('Launch video');
    expect(await pageB.textContent('#role')).toBe('editor');
    expect(await pageB.isHidden('#invite-form')).toBe(true);
    await pageA.waitForFunction(
      () => document.getElementById('doc-status')?.textContent === 'connected',
    );
  });

  it("lists both members in each page's presence", async () => {
    for (const page of [pageA, pageB]) {
      await vi.waitFor(async () => {
        expect((await texts(page, '#presence li')).sort()).toEqual(['Ada Owner', 'Bea Editor']);
      }, WAIT);
    }
  });

  it("keeps both textareas and the server's script equal, also when both type at once", async () => {
    expect(await pageA.getAttribute('#script', 'readonly')).toBeNull();
    expect(await pageB.getAttribute('#script', 'readonly')).toBeNull();

    await pageA.click('#script');
    await pageA.keyboard.type('Hello from Ada.');
    await vi.waitFor(async () => expect(await scriptOf(pageB)).toBe('Hello from Ada.'), WAIT);

    await pageB.click('#script');
    await pageB.keyboard.press('Control+End');
    await pageB.keyboard.type(' And Bea.');
    await vi.waitFor(
      async () => expect(await scriptOf(pageA)).toBe('Hello from Ada. And Bea.'),
      WAIT,
    );
    await vi.waitFor(
      async () =>
        expect(await serverScript(projectId, owner.accessToken)).toBe('Hello from Ada. And Bea.'),
      WAIT,
    );

    // Concurrent typing at both ends: each page's caret must survive the other's edits (a
    // caret thrown to the end on every remote change would put Bea's title at the end).
    await pageA.focus('#script');
    await pageA.keyboard.press('Control+End');
    await pageB.focus('#script');
    await pageB.keyboard.press('Control+Home');
    await Promise.all([
      pageA.keyboard.type(' The end.', { delay: 40 }),
      pageB.keyboard.type('Title: ', { delay: 40 }),
    ]);
    const expected = 'Title: Hello from Ada. And Bea. The end.';
    await vi.waitFor(async () => {
      expect(await scriptOf(pageA)).toBe(expected);
      expect(await scriptOf(pageB)).toBe(expected);
    }, WAIT);
    await vi.waitFor(
      async () => expect(await serverScript(projectId, editor.accessToken)).toBe(expected),
      WAIT,
    );

    // A deletion (a selection replaced) travels too.
    await pageB.focus('#script');
    await pageB.keyboard.press('Control+Home');
    for (let i = 0; i < 'Title: '.length; i++) await pageB.keyboard.press('Shift+ArrowRight');
    await pageB.keyboard.press('Delete');
    await vi.waitFor(
      async () => expect(await scriptOf(pageA)).toBe('Hello from Ada. And Bea. The end.'),
      WAIT,
    );
  });

  it("shows a chat message and the coach's reply, streamed to the end, in both pages", async () => {
    const question = 'How do we get our first 100 members?';
    await pageA.fill('#chat-input', question);
    await pageA.click('#chat-send');

    const replies: string[] = [];
    for (const page of [pageA, pageB]) {
      await vi.waitFor(async () => {
        expect(await texts(page, '#chat-log li.user .text')).toEqual([question]);
        expect(await texts(page, '#chat-log li.user .author')).toEqual(['Ada Owner']);
        expect(await page.locator('#chat-log li.assistant[data-status="done"]').count()).toBe(1);
      }, WAIT);
      const [reply] = await texts(page, '#chat-log li.assistant .text');
      replies.push(reply!);
    }
    expect(replies[0]).toMatch(/^\[Offline coach\]/);
    expect(replies[1]).toBe(replies[0]);
    expect(await pageA.inputValue('#chat-input')).toBe('');

    // The stored reply is what both pages show.
    const response = await node.request(`/api/v1/projects/${projectId}/chat/messages`, {
      token: editor.accessToken,
    });
    const { messages } = (await response.json()) as {
      messages: Array<{ id: string; role: string; content: string }>;
    };
    const stored = messages.find((message) => message.role === 'assistant');
    expect(stored?.content).toBe(replies[0]);
    expect(await pageB.getAttribute('#chat-log li.assistant', 'data-id')).toBe(stored?.id);
  });

  it('streams chat:token deltas into a reply as they arrive and marks it done on chat:done', async () => {
    const emitter = node.services.realtime.emitter;
    const messageId = crypto.randomUUID();
    const bubble = `#chat-log li[data-id="${messageId}"]`;
    await emitter.emit(projectId, 'chat:token', { messageId, delta: 'Post three ' });
    for (const page of [pageA, pageB]) {
      await vi.waitFor(async () => {
        expect(await page.getAttribute(bubble, 'data-status')).toBe('streaming');
        expect(await page.textContent(`${bubble} .text`)).toBe('Post three ');
      }, WAIT);
    }
    await emitter.emit(projectId, 'chat:token', { messageId, delta: 'clips a week.' });
    await emitter.emit(projectId, 'chat:done', {
      messageId,
      usage: { inputTokens: 1, outputTokens: 2 },
      costUsd: 0,
    });
    for (const page of [pageA, pageB]) {
      await vi.waitFor(async () => {
        expect(await page.getAttribute(bubble, 'data-status')).toBe('done');
        expect(await page.textContent(`${bubble} .text`)).toBe('Post three clips a week.');
      }, WAIT);
    }
  });

  it('shows render progress published to the room in both pages', async () => {
    const emitter = node.services.realtime.emitter;
    const renderId = crypto.randomUUID();
    const row = `#renders li[data-render-id="${renderId}"]`;
    await emitter.emit(projectId, 'render:progress', {
      renderId,
      status: 'running',
      progress: 0.4,
    });
    for (const page of [pageA, pageB]) {
      await vi.waitFor(async () => {
        expect(await page.getAttribute(row, 'data-status')).toBe('running');
        expect(await page.textContent(`${row} .status`)).toBe('running 40%');
        expect(
          await page.locator(`${row} progress`).evaluate((bar: HTMLProgressElement) => bar.value),
        ).toBe(0.4);
      }, WAIT);
    }
    await emitter.emit(projectId, 'render:progress', {
      renderId,
      status: 'completed',
      progress: 1,
    });
    for (const page of [pageA, pageB]) {
      await vi.waitFor(async () => {
        expect(await page.textContent(`${row} .status`)).toBe('completed 100%');
        expect(await page.locator('#renders li').count()).toBe(1);
      }, WAIT);
    }
  });

  it('gives a viewer the live script read-only', async () => {
    const viewer = await node.signup('Cy Viewer');
    const { project } = (await (
      await node.request(`/api/v1/projects/${projectId}`, { token: owner.accessToken })
    ).json()) as { project: { workspaceId: string } };
    const added = await node.request(`/api/v1/workspaces/${project.workspaceId}/members`, {
      method: 'POST',
      token: owner.accessToken,
      json: { email: viewer.user.email, role: 'viewer' },
    });
    expect(added.status).toBe(201);
    const pageC = await newPage();
    await logIn(pageC, viewer.user.email);
    await openProject(pageC, projectId);
    const text = 'Hello from Ada. And Bea. The end.';
    await vi.waitFor(async () => expect(await scriptOf(pageC)).toBe(text), WAIT);
    expect(await pageC.getAttribute('#script', 'readonly')).not.toBeNull();
    await pageC.click('#script');
    await pageC.keyboard.type('vandalism');
    expect(await scriptOf(pageC)).toBe(text);

    // Edits of others still reach the viewer.
    await pageA.focus('#script');
    await pageA.keyboard.press('Control+End');
    await pageA.keyboard.type('!');
    await vi.waitFor(async () => expect(await scriptOf(pageC)).toBe(`${text}!`), WAIT);
    expect(await serverScript(projectId, viewer.accessToken)).toBe(`${text}!`);
  });

  it('ran without script errors in any page', () => {
    expect(pageErrors).toEqual([]);
  });
});
