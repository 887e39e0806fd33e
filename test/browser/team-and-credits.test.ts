import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Session } from '../../shared/accounts.ts';
import type { PipelineRun } from '../../shared/pipeline.ts';
import { FakeStripe } from '../billing/support/fake-stripe.ts';
import { FakeLlmServer } from '../coach/support/fake-llm-server.ts';
import { defaultAccount, FakeGoogle } from '../google/support/fake-google.ts';
import { storeFinishedRender } from '../google/support/finished-render.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';
import {
  launchChromium,
  logIn,
  openProject,
  PASSWORD,
  screenshotsNamed,
  seriousViolations,
  webAppPages,
} from './support/demo-page.ts';

const WAIT = { timeout: 15_000, interval: 100 };
/** What the page learns only by polling (no room event reaches a member added to a workspace). */
const POLL_WAIT = { timeout: 30_000, interval: 250 };
const CLIENT = { clientId: 'web-app.apps.googleusercontent.com', clientSecret: 'web-app-secret' };

let google: FakeGoogle;
/** OpenAI's stand-in: the script step's draft, with token usage and so a cost per call. */
let llm: FakeLlmServer;
let node: TestNode;
let browser: Browser;
/** The web app's pages; what they said is printed under a test that fails. */
const pages = webAppPages({
  browser: () => browser,
  url: () => node.url,
  timeoutMs: WAIT.timeout,
});
afterEach((context) => pages.afterEach(context));
const newPage = pages.open;

/** A free port, so PUBLIC_URL (where Google sends the browser back) is known before start. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

beforeAll(async () => {
  google = await new FakeGoogle([CLIENT]).start();
  llm = await FakeLlmServer.start('openai', {
    reply: () => ({
      tokens: ['# Why we built it\n', 'A community that critiques your cuts.\n'],
      usage: { inputTokens: 120, outputTokens: 80 },
    }),
  });
  const port = await freePort();
  node = await startTestNode({
    config: {
      port,
      publicUrl: `http://127.0.0.1:${port}`,
      google: { clients: [CLIENT], apiBase: google.url },
      youtubeTuning: { chunkBytes: 256 * 1024, backoffMs: 20 },
      coach: {
        provider: 'openai',
        openai: { apiKey: 'sk-test', baseUrl: llm.baseUrl },
        maxRetries: 0,
      },
    },
  });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await node?.close();
  await google?.close();
  await llm?.close();
});

const screenshot = screenshotsNamed('team');

async function api<T>(
  pathname: string,
  token: string,
  init: { method?: string; json?: unknown } = {},
) {
  const response = await node.request(`/api/v1${pathname}`, { token, ...init });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : null) as T };
}

/** Signs up through the page's form and waits for the project list. */
async function signUpOnPage(page: Page, email: string, name: string): Promise<void> {
  await page.fill('#email', email);
  await page.fill('#password', PASSWORD);
  await page.fill('#name', name);
  await page.click('#signup');
  await page.waitForSelector('#projects-view:not([hidden])');
}

const listedProjects = (page: Page) =>
  page.locator('#projects li').evaluateAll((items) =>
    items.map((item) => ({
      id: (item as HTMLElement).dataset.projectId,
      text: item.textContent ?? '',
    })),
  );

describe('the web app: team, credits, costs, publishing and Sign in with Google', () => {
  let ownerPage: Page;
  let beaPage: Page;
  let owner: Session;
  let beaEmail: string;
  let workspaceId: string;
  let projectId: string;
  let studioProjectId: string;

  it('invites an email without an account (pending), who joins at signup and sees it said', async () => {
    ownerPage = await newPage();
    const ownerEmail = `ada-${randomUUID()}@example.test`;
    await signUpOnPage(ownerPage, ownerEmail, 'Ada Owner');
    // The new-project form defaults to the owner's own workspace.
    owner = (await (
      await node.request('/api/v1/auth/login', {
        method: 'POST',
        json: { email: ownerEmail, password: PASSWORD },
      })
    ).json()) as Session;
    const mine = await api<{ workspaces: Array<{ id: string; role: string }> }>(
      '/workspaces',
      owner.accessToken,
    );
    workspaceId = mine.body.workspaces[0]!.id;
    expect(await ownerPage.inputValue('#new-project-workspace')).toBe(workspaceId);
    await ownerPage.fill('#new-project-title', 'Launch video');
    await ownerPage.fill('#new-project-topic', 'A paid community for video editors');
    await ownerPage.click('#create-project');
    await ownerPage.waitForSelector('#project-view[data-project-id]:not([hidden])');
    projectId = (await ownerPage.getAttribute('#project-view', 'data-project-id'))!;

    const team = ownerPage.getByRole('region', { name: 'Team' });
    await vi.waitFor(async () => {
      expect(await team.locator('#team-members li').allTextContents()).toEqual([
        expect.stringContaining('Ada Owner (you)'),
      ]);
    }, WAIT);
    expect(await ownerPage.textContent('#team-invitations-empty')).toBe(
      'No invitation is waiting.',
    );

    beaEmail = `bea-${randomUUID()}@example.test`;
    await ownerPage.fill('#invite-email', beaEmail);
    await ownerPage.selectOption('#invite-role', 'viewer');
    await team.getByRole('button', { name: 'Invite', exact: true }).click();
    await vi.waitFor(async () => {
      expect(await ownerPage.textContent('#invite-status')).toBe(
        `Invited ${beaEmail} as viewer; they join when they sign up.`,
      );
      expect(await ownerPage.textContent('#team-invitations li')).toContain(beaEmail);
    }, WAIT);
    expect(await ownerPage.textContent('#team-invitations li .badge')).toBe('pending');
    expect(await ownerPage.isHidden('#team-invitations-empty')).toBe(true);
    await screenshot(ownerPage, 'invited-pending');

    // Bea signs up with that email on the page: the invitation is hers at once, and said.
    beaPage = await newPage();
    await signUpOnPage(beaPage, beaEmail, 'Bea Editor');
    await vi.waitFor(async () => {
      expect((await listedProjects(beaPage)).map((p) => p.id)).toContain(projectId);
    }, WAIT);
    expect(await beaPage.textContent('#projects-notice')).toBe(
      "You were added to Ada Owner's workspace as viewer.",
    );
    // Her own workspace stays the default for new projects.
    expect(await beaPage.inputValue('#new-project-workspace')).not.toBe(workspaceId);
    await screenshot(beaPage, 'joined-at-signup');

    // The owner's Team region turns the pending invitation into a member (read again on focus).
    await ownerPage.evaluate(() => window.dispatchEvent(new Event('focus')));
    await vi.waitFor(async () => {
      const rows = await ownerPage.locator('#team-members li').allTextContents();
      expect(rows).toContainEqual(expect.stringContaining('Bea Editor'));
      expect(await ownerPage.locator('#team-invitations li').count()).toBe(0);
    }, WAIT);
  });

  it('adds the member to another workspace after signup: her project list updates without a reload', async () => {
    const studio = await api<{ workspace: { id: string } }>('/workspaces', owner.accessToken, {
      method: 'POST',
      json: { name: 'Ada Studio' },
    });
    expect(studio.status).toBe(201);
    const created = await api<{ project: { id: string } }>('/projects', owner.accessToken, {
      method: 'POST',
      json: { workspaceId: studio.body.workspace.id, title: 'Studio tour', topic: 'our studio' },
    });
    studioProjectId = created.body.project.id;
    const before = await beaPage.evaluate(() => performance.getEntriesByType('navigation').length);
    const added = await api(`/workspaces/${studio.body.workspace.id}/members`, owner.accessToken, {
      method: 'POST',
      json: { email: beaEmail, role: 'editor' },
    });
    expect(added.status).toBe(201);
    // Within 5 s, half the page's 10 s poll: the `membership:changed` event brought it.
    await vi.waitFor(async () => {
      expect((await listedProjects(beaPage)).map((p) => p.id)).toContain(studioProjectId);
    }, 5_000);
    expect(await beaPage.textContent('#projects-notice')).toBe(
      'You were added to Ada Studio as editor.',
    );
    // Still the same document: nothing reloaded.
    expect(await beaPage.evaluate(() => performance.getEntriesByType('navigation').length)).toBe(
      before,
    );
    await screenshot(beaPage, 'added-live');
  });

  it('lets the owner change a role; others see roles read-only', async () => {
    const select = ownerPage.getByRole('combobox', { name: 'Role of Bea Editor' });
    await select.selectOption('editor');
    await vi.waitFor(async () => {
      const roster = await api<{ members: Array<{ email: string; role: string }> }>(
        `/workspaces/${workspaceId}/members`,
        owner.accessToken,
      );
      expect(roster.body.members).toContainEqual(
        expect.objectContaining({ email: beaEmail, role: 'editor' }),
      );
    }, WAIT);
    // Bea's list shows her new role (polled), and her Team region is read-only.
    await vi.waitFor(async () => {
      const row = (await listedProjects(beaPage)).find((p) => p.id === projectId);
      expect(row?.text).toContain('editor');
    }, POLL_WAIT);
    await openProject(beaPage, projectId);
    const team = beaPage.getByRole('region', { name: 'Team' });
    await vi.waitFor(async () => {
      expect(await team.locator('#team-members li').count()).toBe(2);
    }, WAIT);
    expect(await team.locator('select.role').count()).toBe(0);
    expect(await beaPage.isHidden('#invite-form')).toBe(true);
    expect(await beaPage.isVisible('#team-readonly')).toBe(true);
    expect(await team.locator('li[data-role="owner"] .badge').textContent()).toBe('owner');
  });

  it('shows the workspace balance live and the owner grant while payments are off; costs per run and member', async () => {
    const wallet = await api<{ balance: number }>(
      `/billing/balance?workspaceId=${workspaceId}`,
      owner.accessToken,
    );
    await vi.waitFor(async () => {
      expect(await ownerPage.textContent('#credits')).toBe(`${wallet.body.balance} credits`);
      expect(await beaPage.textContent('#credits')).toBe(`${wallet.body.balance} credits`);
    }, WAIT);
    expect(await ownerPage.isHidden('#credit-packages')).toBe(true);
    expect(await ownerPage.isVisible('#add-credits')).toBe(true);
    expect(await beaPage.isVisible('#add-credits')).toBe(false);
    await ownerPage.getByRole('button', { name: 'Add credits' }).click();
    await vi.waitFor(async () => {
      expect(await ownerPage.textContent('#credits')).toBe(`${wallet.body.balance + 500} credits`);
    }, WAIT);

    // A run started elsewhere (REST, by Bea) charges the wallet: both pages follow it live.
    const bea = (await (
      await node.request('/api/v1/auth/login', {
        method: 'POST',
        json: { email: beaEmail, password: PASSWORD },
      })
    ).json()) as Session;
    const started = await api<{ run: PipelineRun }>(
      `/projects/${projectId}/pipeline-runs`,
      bea.accessToken,
      { method: 'POST', json: { steps: ['script'] } },
    );
    expect(started.status).toBe(202);
    const runId = started.body.run.id;
    const run = `#pipeline-runs li.run[data-run-id="${runId}"]`;
    await ownerPage.waitForSelector(
      `${run}:is([data-status="completed"], [data-status="failed"], [data-status="cancelled"])`,
      { timeout: 60_000 },
    );
    const done = await api<{ run: PipelineRun }>(`/pipeline-runs/${runId}`, owner.accessToken);
    expect(done.body.run.status, JSON.stringify(done.body.run.error)).toBe('completed');
    const charged = done.body.run.steps.reduce((sum, step) => sum + step.credits, 0);
    expect(charged).toBeGreaterThan(0);
    const now = await api<{ balance: number }>(
      `/billing/balance?workspaceId=${workspaceId}`,
      owner.accessToken,
    );
    expect(now.body.balance).toBe(wallet.body.balance + 500 - charged);
    await vi.waitFor(async () => {
      expect(await ownerPage.textContent('#credits')).toBe(`${now.body.balance} credits`);
      expect(await beaPage.textContent('#credits')).toBe(`${now.body.balance} credits`);
    }, WAIT);
    // The run's cost, and the project's costs per member.
    expect(await ownerPage.textContent(`${run} .run-cost`)).toContain(`${charged} credits`);
    const costs = await api<{ costs: { byMember: Array<{ userId: string; calls: number }> } }>(
      `/projects/${projectId}/costs`,
      owner.accessToken,
    );
    expect(costs.body.costs.byMember.map((m) => m.userId)).toEqual([bea.user.id]);
    await vi.waitFor(async () => {
      expect(await ownerPage.textContent('#pipeline-costs .costs-by-member')).toContain(
        'Bea Editor',
      );
    }, WAIT);
    await screenshot(ownerPage, 'credits-and-costs');
  }, 90_000);

  it('connects a YouTube channel through Google, shows it with the quota, publishes, and explains an exhausted quota', async () => {
    const region = ownerPage.getByRole('region', { name: 'Publishing' });
    await vi.waitFor(async () => {
      expect(await region.locator('#youtube-quota li').count()).toBe(1);
    }, WAIT);
    expect(await ownerPage.isVisible('#youtube-channels-empty')).toBe(true);
    expect(await ownerPage.textContent('#youtube-quota li')).toMatch(
      /^100 of 100 uploads and 10,000 of 10,000 API units left today; refills (today|tomorrow) at /,
    );
    google.account = defaultAccount({
      channel: { id: 'UCweb-app-channel', title: 'Ada on YouTube' },
    });
    // The consent page, Google's redirect to our callback, the redirect back to the web app:
    // the page opens the project it left.
    await region.getByRole('button', { name: 'Connect YouTube channel' }).click();
    await ownerPage.waitForURL(`${node.url}/`);
    await ownerPage.waitForSelector(`#project-view[data-project-id="${projectId}"]:not([hidden])`);
    await vi.waitFor(async () => {
      expect(await ownerPage.locator('#youtube-channels li').allTextContents()).toEqual([
        expect.stringContaining('Ada on YouTube'),
      ]);
    }, WAIT);
    expect(await ownerPage.isHidden('#youtube-channels-empty')).toBe(true);
    await vi.waitFor(async () => {
      // channels.list cost a unit of the pool.
      expect(await ownerPage.textContent('#youtube-quota li')).toMatch(
        / 9,999 of 10,000 API units/,
      );
    }, WAIT);
    expect(await ownerPage.inputValue('#publish-privacy')).toBe('private');
    await screenshot(ownerPage, 'publishing-connected');

    // A finished render to publish (stored directly: FFmpeg is not what this test is about).
    const bytes = Buffer.alloc(300 * 1024, 7);
    await storeFinishedRender({
      db: node.database.db,
      storage: node.services.storage,
      projectId,
      workspaceId,
      bytes,
    });
    await ownerPage.selectOption('#publish-privacy', 'unlisted');
    await region.getByRole('button', { name: 'Publish latest video' }).click();
    await vi.waitFor(
      async () => {
        expect(await ownerPage.textContent('#publish-status')).toBe(
          'Published: the video is on YouTube (see Pipeline for its link).',
        );
      },
      { timeout: 60_000, interval: 250 },
    );
    const [videoId, video] = [...google.videos].at(-1)!;
    expect(video.bytes.equals(bytes)).toBe(true);
    expect(JSON.stringify(video.metadata)).toContain('"privacyStatus":"unlisted"');
    await vi.waitFor(async () => {
      expect(
        await ownerPage.getAttribute(
          '#pipeline-runs a[data-youtube-video-id]',
          'data-youtube-video-id',
        ),
      ).toBe(videoId);
    }, WAIT);

    // Google says the quota is gone: the publish fails, and the page says until when, in words.
    google.quotaExceeded = true;
    await region.getByRole('button', { name: 'Publish latest video' }).click();
    await vi.waitFor(
      async () => {
        expect(await ownerPage.textContent('#publish-error')).toMatch(
          /^YouTube's daily upload quota for this server is used up\. It refills (today|tomorrow) at \d\d:\d\d( [AP]M)?; publish again then\.$/,
        );
      },
      { timeout: 60_000, interval: 250 },
    );
    await vi.waitFor(async () => {
      expect(await ownerPage.textContent('#youtube-quota li')).toMatch(
        /^Quota used up for today; it refills (today|tomorrow) at /,
      );
    }, WAIT);
    google.quotaExceeded = false;
    await screenshot(ownerPage, 'publishing-quota');
  }, 120_000);

  it('signs in with Google: Continue with Google, the consent page, back with a loginCode', async () => {
    google.account = defaultAccount({ name: 'Gus Google' });
    const page = await newPage();
    const button = page.getByRole('button', { name: 'Continue with Google' });
    await button.waitFor();
    await screenshot(page, 'sign-in-google');
    await button.click();
    await page.waitForSelector('#projects-view:not([hidden])');
    expect(await page.textContent('#whoami')).toBe('Signed in as Gus Google');
    // The single-use code left the address bar, and the session is a real one.
    expect(page.url()).toBe(`${node.url}/`);
    const tokens = await page.evaluate(() => sessionStorage.getItem('reelroom.demo.tokens'));
    const me = await api<{ user: { email: string } }>(
      '/me',
      (JSON.parse(tokens!) as { accessToken: string }).accessToken,
    );
    expect(me.body.user.email).toBe(google.account.email);
  });

  it('has no serious or critical accessibility violations, and is usable at 375 px', async () => {
    expect(await seriousViolations(ownerPage)).toEqual([]);
    expect(await seriousViolations(beaPage)).toEqual([]);
    const narrow = await newPage({ width: 375, height: 800 });
    expect(await seriousViolations(narrow)).toEqual([]);
    await logIn(narrow, beaEmail);
    await openProject(narrow, projectId);
    await narrow.waitForSelector('#team-members li');
    expect(
      await narrow.evaluate(() => ({
        scroll: document.documentElement.scrollWidth,
        width: window.innerWidth,
      })),
    ).toEqual({ scroll: 375, width: 375 });
    await screenshot(narrow, 'narrow');
  });

  it('ran without script errors in any page', () => {
    expect(pages.errors).toEqual([]);
  });
});

describe('credits when the server takes payments (Stripe)', () => {
  let stripe: FakeStripe;
  let paid: TestNode;
  const paidPages = webAppPages({
    browser: () => browser,
    url: () => paid.url,
    timeoutMs: WAIT.timeout,
    // Stripe's hosted page is not reachable from the test: answer it locally.
    prepare: (page) =>
      page.route('https://checkout.stripe.com/**', (route) =>
        route.fulfill({ contentType: 'text/html', body: '<title>Stripe Checkout</title>' }),
      ),
  });
  afterEach((context) => paidPages.afterEach(context));

  beforeAll(async () => {
    stripe = await FakeStripe.start();
    paid = await startTestNode({
      config: { stripe: { secretKey: stripe.secretKey, apiBase: stripe.apiBase } },
    });
  }, 60_000);

  afterAll(async () => {
    await paid?.close();
    await stripe?.close();
  });

  it('lists the packages with a checkout button for owners and no grant; Buy goes to Stripe Checkout', async () => {
    const ada = await paid.signup('Ada Payer');
    const { workspaces } = (await (
      await paid.request('/api/v1/workspaces', { token: ada.accessToken })
    ).json()) as { workspaces: Array<{ id: string }> };
    const created = await paid.request('/api/v1/projects', {
      method: 'POST',
      token: ada.accessToken,
      json: { workspaceId: workspaces[0]!.id, title: 'Paid launch', topic: 'credits' },
    });
    const { project } = (await created.json()) as { project: { id: string } };
    const page = await paidPages.open();
    await logIn(page, ada.user.email);
    await openProject(page, project.id);
    const region = page.getByRole('region', { name: 'Pipeline' });
    await vi.waitFor(async () => {
      expect(await page.locator('#credit-packages li').count()).toBeGreaterThan(0);
    }, WAIT);
    expect(await page.isVisible('#add-credits')).toBe(false);
    expect(await page.textContent('#credits')).toMatch(/^\d+ credits$/);
    expect(await page.locator('#credit-packages li').allTextContents()).toContainEqual(
      expect.stringContaining('Starter: 100 credits for $5.00'),
    );
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'packages');
    await region.getByRole('button', { name: 'Buy Starter: 100 credits for $5.00' }).click();
    await page.waitForURL(/^https:\/\/checkout\.stripe\.com\/c\/pay\//);
    const [session] = [...stripe.sessions.values()];
    expect(session?.url).toBe(page.url());
    await page.context().close();
    expect(paidPages.errors).toEqual([]);
  });
});
