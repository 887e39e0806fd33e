// The project page's Pipeline region: "Make video" starts a run, each step shows its progress
// live from `pipeline:progress` and, once done, what it made (voice-over players, the
// thumbnail, the video) and what it cost. Runs are read back from REST on opening, so they
// survive a reload; below them, the project's costs in total and per member. The credits line
// and buttons beside "Make video" belong to credits-panel.ts.
import type { PipelineArtifact, PipelineRun, PipelineStep } from '../../shared/pipeline.ts';
import type { PipelineProgressEvent } from '../../shared/socket-events.ts';
import type { Role } from '../../shared/workspaces.ts';
import { ReelroomApiError } from '../api-error.ts';
import type { ReelroomClient } from '../rest-client.ts';
import { byId, el } from './dom.ts';
import { explain, explainCaught } from './explain.ts';

export { explain };

export interface PipelinePanelOptions {
  client: ReelroomClient;
  projectId: string;
  workspaceId: string;
  role: Role;
  /** Removes the panel's DOM listeners when the project closes. */
  signal: AbortSignal;
}

export interface PipelinePanel {
  /** Feeds one room event (any project's; others are ignored by run id). */
  onProgress(event: PipelineProgressEvent): void;
  /** Reads the project's runs again (on opening and after the room reconnects). */
  refresh(): Promise<void>;
  /** Frees the Blob URLs of fetched artifacts. */
  close(): void;
}

const STEP_LABELS: Record<string, string> = {
  script: 'Script draft',
  voiceover: 'Voice-over',
  thumbnail: 'Thumbnail',
  render: 'Video',
  publish: 'YouTube upload',
};

export function openPipelinePanel(options: PipelinePanelOptions): PipelinePanel {
  const { client, projectId, workspaceId, role, signal } = options;
  const on = { signal };
  const list = byId('pipeline-runs');
  const empty = byId('pipeline-empty');
  const errorLine = byId('pipeline-error');
  const make = byId<HTMLButtonElement>('make-video');
  const costsBox = byId('pipeline-costs');
  list.replaceChildren();
  empty.hidden = false;
  errorLine.textContent = '';
  make.disabled = role === 'viewer';
  make.title = role === 'viewer' ? 'Viewers watch runs; editors and owners start them.' : '';
  costsBox.replaceChildren();

  /** Blob URLs of fetched assets, by asset id (fetched once, freed on close). */
  const blobs = new Map<string, Promise<string>>();
  /** Runs being read from REST, so a burst of events costs one request per run at a time. */
  const loading = new Map<string, Promise<void>>();
  let closed = false;

  /** Member names for the costs by member (ids in the ledger), read once per refresh. */
  let names = new Map<string, string>();

  /** What the project's runs cost so far: the total, and who started what. */
  const showCosts = async () => {
    try {
      const [costs, roster] = await Promise.all([
        client.projects.costs(projectId),
        client.workspaces.members(workspaceId).catch(() => []),
      ]);
      if (roster.length > 0) names = new Map(roster.map((m) => [m.userId, m.name]));
      if (closed) return;
      if (costs.entries.length === 0 && costs.totalUsd === 0) {
        costsBox.replaceChildren();
        return;
      }
      costsBox.replaceChildren(
        el('h3', { className: 'muted', text: 'Costs' }),
        el('p', {
          className: 'costs-total',
          text: `${usd(costs.totalUsd)} in provider costs so far for this project.`,
        }),
        el(
          'ul',
          { className: 'plain costs-by-member' },
          ...costs.byMember.map((row) =>
            el(
              'li',
              { data: { userId: row.userId ?? '' } },
              el('span', {
                className: 'member',
                text: row.userId ? (names.get(row.userId) ?? 'A former member') : 'The system',
              }),
              el('span', {
                className: 'muted',
                text: ` · ${usd(row.usd)} over ${row.calls} ${row.calls === 1 ? 'call' : 'calls'}`,
              }),
            ),
          ),
        ),
      );
      costsBox.querySelector('ul')!.setAttribute('aria-label', 'Costs per member');
    } catch (caught) {
      costsBox.replaceChildren(
        el('p', { className: 'error', text: `Costs could not be read: ${explainCaught(caught)}` }),
      );
    }
  };

  /** An asset's bytes need the bearer token: fetched once into a Blob URL the page can play. */
  const assetUrl = (artifact: PipelineArtifact): Promise<string> => {
    const id = artifact.assetId!;
    let url = blobs.get(id);
    if (!url) {
      url = fetchBlob(`/api/v1/assets/${encodeURIComponent(id)}/content`);
      blobs.set(id, url);
      url.catch(() => blobs.delete(id));
    }
    return url;
  };
  const fetchBlob = async (pathname: string): Promise<string> => {
    const send = () =>
      fetch(`${client.baseUrl}${pathname}`, {
        headers: { authorization: `Bearer ${client.tokens?.accessToken ?? ''}` },
      });
    let response = await send();
    if (response.status === 401) {
      await client.auth.refresh();
      response = await send();
    }
    if (!response.ok) throw await ReelroomApiError.from(response);
    return URL.createObjectURL(await response.blob());
  };

  const runItem = (runId: string): HTMLElement | null =>
    list.querySelector<HTMLElement>(`li.run[data-run-id="${CSS.escape(runId)}"]`);

  const stepItem = (run: HTMLElement, step: string): HTMLElement | null =>
    run.querySelector<HTMLElement>(`li.step[data-step="${CSS.escape(step)}"]`);

  const setStepProgress = (
    item: HTMLElement,
    status: string,
    progress: number,
    message?: string,
  ) => {
    item.dataset.status = status;
    item.dataset.progress = String(progress);
    const bar = item.querySelector('progress')!;
    bar.max = 1;
    bar.value = progress;
    item.querySelector('.status')!.textContent = `${status} ${Math.round(progress * 100)}%`;
    if (message !== undefined) item.querySelector('.message')!.textContent = message;
  };

  /** Shows a run as REST has it: creates its row or brings it up to date. */
  const showRun = (run: PipelineRun) => {
    empty.hidden = true;
    let item = runItem(run.id);
    if (!item) {
      const retry = el('button', { className: 'secondary retry', text: 'Retry' });
      retry.type = 'button';
      retry.addEventListener('click', () => void act(run.id, 'retry'), on);
      const cancel = el('button', { className: 'secondary cancel', text: 'Cancel' });
      cancel.type = 'button';
      cancel.addEventListener('click', () => void act(run.id, 'cancel'), on);
      item = el(
        'li',
        { className: 'run', data: { runId: run.id } },
        el(
          'div',
          { className: 'run-head' },
          el('span', { className: 'run-status' }),
          el('span', {
            className: 'muted',
            text: ` · started ${new Date(run.createdAt).toLocaleString()}`,
          }),
          el('span', { className: 'run-cost muted' }),
          el('span', { className: 'spacer' }),
          cancel,
          retry,
        ),
        el('p', { className: 'error run-error', text: '' }),
        el('ol', { className: 'steps plain' }),
      );
      // Newest first, as REST lists them.
      const older = [...list.querySelectorAll<HTMLElement>('li.run')].find(
        (other) => (other.dataset.createdAt ?? '') < run.createdAt,
      );
      item.dataset.createdAt = run.createdAt;
      list.insertBefore(item, older ?? null);
    }
    item.dataset.status = run.status;
    item.querySelector('.run-status')!.textContent = `Run ${run.status}`;
    item.querySelector('.run-error')!.textContent = run.error ? explain(run.error) : '';
    item.querySelector('.run-cost')!.textContent = ` · ${costOf(run.costUsd, run.steps)}`;
    const editable = role !== 'viewer';
    (item.querySelector('.retry') as HTMLElement).hidden =
      !editable || !(run.status === 'failed' || run.status === 'cancelled');
    (item.querySelector('.cancel') as HTMLElement).hidden =
      !editable || !(run.status === 'queued' || run.status === 'running');
    const steps = item.querySelector('ol.steps')!;
    for (const step of run.steps) {
      let row = stepItem(item, step.name);
      if (!row) {
        row = el(
          'li',
          { className: 'step', data: { step: step.name } },
          el(
            'div',
            {},
            el('span', { className: 'name', text: STEP_LABELS[step.name] ?? step.name }),
            el('span', { className: 'status muted' }),
            el('span', { className: 'message muted' }),
            el('span', { className: 'cost muted' }),
          ),
          el('progress', {}),
          el('p', { className: 'error step-error' }),
          el('div', { className: 'artifacts' }),
        );
        steps.append(row);
      }
      setStepProgress(row, step.status, step.progress);
      row.querySelector('.cost')!.textContent =
        step.costUsd > 0 || step.credits > 0 ? ` · ${costOf(step.costUsd, [step])}` : '';
      row.querySelector('.step-error')!.textContent = step.error ? explain(step.error) : '';
      showArtifacts(row, step);
    }
  };

  /** Artifacts are drawn once per step attempt; a retried step draws its new ones. */
  const showArtifacts = (row: HTMLElement, step: PipelineStep) => {
    const box = row.querySelector<HTMLElement>('.artifacts')!;
    const drawn = `${step.attempt}:${step.artifacts.length}`;
    if (box.dataset.drawn === drawn) return;
    box.dataset.drawn = drawn;
    box.replaceChildren();
    const captions = step.artifacts.find((artifact) => artifact.kind === 'subtitles');
    for (const artifact of step.artifacts) {
      const figure = drawArtifact(artifact, captions);
      if (figure) box.append(figure);
    }
  };

  const drawArtifact = (
    artifact: PipelineArtifact,
    captions: PipelineArtifact | undefined,
  ): HTMLElement | null => {
    const caption = el('figcaption', { className: 'muted' });
    const figure = el('figure', { data: { kind: artifact.kind } });
    const failed = (caught: unknown) => {
      caption.textContent = `Could not load it: ${explainCaught(caught)}`;
    };
    switch (artifact.kind) {
      case 'voiceover': {
        const audio = el('audio');
        audio.controls = true;
        audio.preload = 'metadata';
        if (artifact.sceneIndex !== undefined)
          audio.dataset.sceneIndex = String(artifact.sceneIndex);
        const seconds =
          artifact.durationSec !== undefined ? `, ${artifact.durationSec.toFixed(1)} s` : '';
        caption.textContent = `Scene ${(artifact.sceneIndex ?? 0) + 1}${seconds}${artifact.cached ? ' (reused)' : ''}`;
        if (artifact.assetId) assetUrl(artifact).then((url) => (audio.src = url), failed);
        figure.append(caption, audio);
        return figure;
      }
      case 'thumbnail': {
        const image = el('img');
        image.alt = 'Thumbnail';
        image.className = 'thumbnail';
        if (artifact.width && artifact.height)
          caption.textContent = `${artifact.width}×${artifact.height}`;
        if (artifact.assetId) assetUrl(artifact).then((url) => (image.src = url), failed);
        figure.append(image, caption);
        return figure;
      }
      case 'video': {
        const video = el('video');
        video.controls = true;
        video.preload = 'metadata';
        video.playsInline = true;
        if (artifact.durationSec) caption.textContent = `${artifact.durationSec.toFixed(1)} s`;
        if (artifact.renderId) {
          // The render's signed `outputUrl` plays without a header (and seeks with ranges).
          client
            .request<{ render: { outputUrl: string | null } }>(
              'GET',
              `/renders/${encodeURIComponent(artifact.renderId)}`,
            )
            .then(({ render }) => {
              if (!render.outputUrl) throw new Error('the video is not ready');
              video.src = new URL(render.outputUrl, client.baseUrl).href;
            })
            .catch(failed);
        }
        if (captions?.assetId) {
          assetUrl(captions).then((url) => {
            const track = el('track');
            track.kind = 'captions';
            track.label = 'Narration';
            track.srclang = 'en';
            track.src = url;
            video.append(track);
          }, failed);
        }
        figure.append(video, caption);
        return figure;
      }
      case 'script':
        caption.textContent = 'The script as it was used.';
        figure.append(caption);
        return figure;
      case 'youtube': {
        if (!artifact.youtubeVideoId) {
          caption.textContent = 'Uploaded to YouTube.';
          figure.append(caption);
          return figure;
        }
        const link = el('a', { text: 'Watch on YouTube' });
        link.href = `https://www.youtube.com/watch?v=${encodeURIComponent(artifact.youtubeVideoId)}`;
        link.target = '_blank';
        link.rel = 'noopener';
        link.dataset.youtubeVideoId = artifact.youtubeVideoId;
        caption.append('On YouTube: ', link);
        figure.append(caption);
        return figure;
      }
      default:
        return null;
    }
  };

  const loadRun = (runId: string): Promise<void> => {
    let pending = loading.get(runId);
    if (!pending) {
      pending = client
        .request<{ run: PipelineRun }>('GET', `/pipeline-runs/${encodeURIComponent(runId)}`)
        .then(({ run }) => {
          if (!closed) showRun(run);
        })
        .catch((caught: unknown) => {
          errorLine.textContent = explainCaught(caught);
        })
        .finally(() => loading.delete(runId));
      loading.set(runId, pending);
    }
    return pending;
  };

  const act = async (runId: string, action: 'retry' | 'cancel') => {
    errorLine.textContent = '';
    try {
      const { run } = await client.request<{ run: PipelineRun }>(
        'POST',
        `/pipeline-runs/${encodeURIComponent(runId)}/${action}`,
      );
      showRun(run);
    } catch (caught) {
      errorLine.textContent = explainCaught(caught);
    }
  };

  make.addEventListener(
    'click',
    async () => {
      errorLine.textContent = '';
      make.disabled = true;
      try {
        const { run } = await client.request<{ run: PipelineRun }>(
          'POST',
          `/projects/${encodeURIComponent(projectId)}/pipeline-runs`,
          { idempotencyKey: crypto.randomUUID() },
        );
        showRun(run);
      } catch (caught) {
        errorLine.textContent = explainCaught(caught);
      } finally {
        make.disabled = role === 'viewer';
      }
    },
    on,
  );

  return {
    onProgress(event) {
      const item = runItem(event.runId);
      const row = item && stepItem(item, event.step);
      if (!row) {
        // A run started elsewhere (another member's page) or a step not drawn yet.
        void loadRun(event.runId);
        return;
      }
      setStepProgress(row, event.status, event.progress, event.message);
      if (
        event.status === 'completed' ||
        event.status === 'failed' ||
        event.status === 'cancelled'
      ) {
        // The step's artifacts, errors and the run's own status come with the run.
        void loadRun(event.runId).then(() => {
          if (event.status !== 'running') void showCosts();
        });
      } else if (item.dataset.status === 'queued') {
        item.dataset.status = 'running';
        item.querySelector('.run-status')!.textContent = 'Run running';
      }
    },
    async refresh() {
      try {
        const { runs } = await client.request<{ runs: PipelineRun[] }>(
          'GET',
          `/projects/${encodeURIComponent(projectId)}/pipeline-runs?limit=10`,
        );
        for (const run of runs) showRun(run);
      } catch (caught) {
        errorLine.textContent = explainCaught(caught);
      }
      await showCosts();
    },
    close() {
      closed = true;
      for (const url of blobs.values())
        url.then(
          (href) => URL.revokeObjectURL(href),
          () => {},
        );
      blobs.clear();
    },
  };
}

/** Dollars as a person reads them: cents, or a fraction of a cent for tiny AI calls. */
function usd(amount: number): string {
  if (amount === 0) return '$0.00';
  return amount < 0.01 ? `$${amount.toFixed(4)}` : `$${amount.toFixed(2)}`;
}

/** "$0.03 · 55 credits": what a run or a step cost, in money and in the workspace's credits. */
function costOf(costUsd: number, steps: Array<Pick<PipelineStep, 'credits'>>): string {
  const credits = steps.reduce((sum, step) => sum + step.credits, 0);
  return `${usd(costUsd)} · ${credits} ${credits === 1 ? 'credit' : 'credits'}`;
}
