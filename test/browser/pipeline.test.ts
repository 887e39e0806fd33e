import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Session } from '../../shared/accounts.ts';
import { REPO_ROOT } from '../support/processes.ts';
import { startTestNode, type TestNode } from '../support/test-node.ts';
import { launchChromium, logIn, openProject, setScript, webAppPages } from './support/demo-page.ts';

const WAIT = { timeout: 15_000, interval: 100 };
/** A whole run: voice-over (Festival or espeak), thumbnail and an FFmpeg render. */
const RUN_WAIT = { timeout: 150_000, interval: 250 };
/** Screenshots for a person to look at; gitignored. */
const ARTIFACTS = path.join(REPO_ROOT, 'test/browser/artifacts');

const SCRIPT = [
  '# Why small communities win',
  'Small groups of video editors learn faster together.',
  '---',
  '# What members get',
  '// keep this short',
  'Weekly critiques and a shared library of templates.',
  '---',
  '# Join us',
  'The first month is free.',
].join('\n');

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

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  node = await startTestNode();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await node?.close();
});

/** Records in the page every (step, status) the Pipeline region shows, as it changes. */
async function recordStepStatuses(page: Page): Promise<void> {
  await page.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { seenSteps: string[] }).seenSteps = seen;
    new MutationObserver((records) => {
      for (const record of records) {
        const target = record.target as HTMLElement;
        if (target.matches?.('li.step'))
          seen.push(`${target.dataset.step}:${target.dataset.status}`);
      }
    }).observe(document.getElementById('pipeline-runs')!, {
      subtree: true,
      attributes: true,
      attributeFilter: ['data-status'],
    });
  });
}

describe('the Pipeline region of the demo page, in Chromium', () => {
  let owner: Session;
  let editor: Session;
  let projectId: string;
  let pageA: Page;
  let pageB: Page;

  it('turns the script into a video live in two pages, with players for what each step made', {
    timeout: 240_000,
  }, async () => {
    owner = await node.signup('Ada Owner');
    editor = await node.signup('Bea Editor');
    const { workspaces } = (await (
      await node.request('/api/v1/workspaces', { token: owner.accessToken })
    ).json()) as { workspaces: Array<{ id: string }> };
    const workspaceId = workspaces[0]!.id;
    const created = await node.request('/api/v1/projects', {
      method: 'POST',
      token: owner.accessToken,
      json: { workspaceId, title: 'Community launch', topic: 'A paid community for video editors' },
    });
    projectId = ((await created.json()) as { project: { id: string } }).project.id;
    await node.request(`/api/v1/workspaces/${workspaceId}/members`, {
      method: 'POST',
      token: owner.accessToken,
      json: { email: editor.user.email, role: 'editor' },
    });

    pageA = await newPage();
    await logIn(pageA, owner.user.email);
    await openProject(pageA, projectId);
    pageB = await newPage();
    await logIn(pageB, editor.user.email);
    await openProject(pageB, projectId);

    const regionA = pageA.getByRole('region', { name: 'Pipeline' });
    await expect(regionA.getByRole('button', { name: 'Make video' }).isEnabled()).resolves.toBe(
      true,
    );
    // Owners add credits while payments are off; editors do not see the button.
    expect(await pageA.isVisible('#add-credits')).toBe(true);
    expect(await pageB.isVisible('#add-credits')).toBe(false);

    // The script is typed on the page and reaches the server's document.
    await setScript(pageA, SCRIPT);
    await vi.waitFor(async () => {
      const response = await node.request(`/api/v1/projects/${projectId}/script`, {
        token: owner.accessToken,
      });
      expect(((await response.json()) as { script: { text: string } }).script.text).toBe(SCRIPT);
    }, WAIT);

    // The owner adds credits (payments are off), and the page shows the new balance.
    await vi.waitFor(
      async () => expect(await pageA.textContent('#credits')).toMatch(/^\d+ credits$/),
      WAIT,
    );
    const before = Number.parseInt((await pageA.textContent('#credits'))!, 10);
    await regionA.getByRole('button', { name: 'Add credits' }).click();
    await vi.waitFor(async () => {
      expect(await pageA.textContent('#credits')).toBe(`${before + 500} credits`);
    }, WAIT);

    await recordStepStatuses(pageB);
    await regionA.getByRole('button', { name: 'Make video' }).click();
    await pageA.waitForSelector('#pipeline-runs li.run');
    const runId = (await pageA.getAttribute('#pipeline-runs li.run', 'data-run-id'))!;
    const run = `#pipeline-runs li.run[data-run-id="${runId}"]`;

    for (const page of [pageA, pageB]) {
      await vi.waitFor(async () => {
        expect(await page.getAttribute(run, 'data-status')).toBe('completed');
      }, RUN_WAIT);
      for (const step of ['voiceover', 'thumbnail', 'render']) {
        const row = `${run} li.step[data-step="${step}"]`;
        expect(await page.getAttribute(row, 'data-status')).toBe('completed');
        expect(
          await page.locator(`${row} progress`).evaluate((bar: HTMLProgressElement) => bar.value),
        ).toBe(1);
      }
      expect(await page.locator(`${run} li.step`).count()).toBe(3);
    }
    // The second page followed the run through the room: it saw steps running, not only the end.
    const seen = await pageB.evaluate(
      () => (window as unknown as { seenSteps: string[] }).seenSteps,
    );
    expect(seen).toContain('voiceover:running');
    expect(seen).toContain('render:running');

    // One audio player per narrated scene, each playable (a Blob of the asset's bytes).
    await vi.waitFor(async () => {
      const durations = await pageA
        .locator(`${run} li.step[data-step="voiceover"] audio`)
        .evaluateAll((players: HTMLAudioElement[]) => players.map((audio) => audio.duration));
      expect(durations).toHaveLength(3);
      for (const duration of durations) expect(duration).toBeGreaterThan(0.5);
    }, WAIT);

    // The thumbnail at YouTube's size.
    await vi.waitFor(async () => {
      const size = await pageA
        .locator(`${run} img.thumbnail`)
        .evaluate((image: HTMLImageElement) => [
          image.complete,
          image.naturalWidth,
          image.naturalHeight,
        ]);
      expect(size).toEqual([true, 1280, 720]);
    }, WAIT);

    // The video: it has a duration and plays (muted, as autoplay rules want).
    for (const page of [pageA, pageB]) {
      const video = page.locator(`${run} li.step[data-step="render"] video`);
      await vi.waitFor(async () => {
        expect(await video.evaluate((v: HTMLVideoElement) => v.duration)).toBeGreaterThan(3);
      }, WAIT);
      await video.evaluate((v: HTMLVideoElement) => {
        v.muted = true;
        return v.play();
      });
      await vi.waitFor(async () => {
        expect(await video.evaluate((v: HTMLVideoElement) => v.currentTime)).toBeGreaterThan(0.5);
      }, WAIT);
      await video.evaluate((v: HTMLVideoElement) => v.pause());
    }
    // The scene outline beside the editor gives each scene its voice-over length.
    for (const page of [pageA, pageB]) {
      await vi.waitFor(async () => {
        const scenes = await page.locator('#outline li').allTextContents();
        expect(scenes).toHaveLength(3);
        for (const scene of scenes) expect(scene).toMatch(/ · \d+\.\d s voice-over$/);
      }, WAIT);
    }
    await pageA
      .locator('#pipeline')
      .screenshot({ path: path.join(ARTIFACTS, 'pipeline-owner.png') });
    await pageB.screenshot({ path: path.join(ARTIFACTS, 'pipeline-editor.png'), fullPage: true });
  });

  it('lists the run with its video after a reload', async () => {
    await pageA.reload();
    await pageA.waitForSelector('#projects-view:not([hidden])');
    await openProject(pageA, projectId);
    await pageA.waitForSelector('#pipeline-runs li.run[data-status="completed"]');
    const video = pageA.locator('#pipeline-runs li.run video');
    await vi.waitFor(async () => {
      expect(await video.evaluate((v: HTMLVideoElement) => v.duration)).toBeGreaterThan(3);
    }, WAIT);
    expect(await pageA.locator('#pipeline-runs li.run audio').count()).toBe(3);
  });

  it('gives a viewer the runs to watch but no Make video or Add credits', async () => {
    const viewer = await node.signup('Cy Viewer');
    const { project } = (await (
      await node.request(`/api/v1/projects/${projectId}`, { token: owner.accessToken })
    ).json()) as { project: { workspaceId: string } };
    await node.request(`/api/v1/workspaces/${project.workspaceId}/members`, {
      method: 'POST',
      token: owner.accessToken,
      json: { email: viewer.user.email, role: 'viewer' },
    });
    const pageC = await newPage();
    await logIn(pageC, viewer.user.email);
    await openProject(pageC, projectId);
    await pageC.waitForSelector('#pipeline-runs li.run[data-status="completed"]');
    expect(await pageC.isDisabled('#make-video')).toBe(true);
    expect(await pageC.getAttribute('#make-video', 'title')).toMatch(
      /editors and owners start them/,
    );
    expect(await pageC.isVisible('#add-credits')).toBe(false);
    expect(await pageC.locator('#pipeline-runs li.run audio').count()).toBe(3);
  });

  it('ran without script errors in any page', () => {
    expect(pages.errors).toEqual([]);
  });
});
