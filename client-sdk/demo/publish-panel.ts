// The project page's Publishing region: the workspace's connected YouTube channels, a button
// that connects another one (Google's consent page, then back here), what is left of today's
// YouTube quota, and publishing the project's latest video to a chosen channel. Publishing is
// the pipeline's `publish` step run on its own: its progress shows in the Pipeline region.
import type { ServerToClientEvents } from '../../shared/socket-events.ts';
import type { Role } from '../../shared/workspaces.ts';
import type { YoutubeChannel, YoutubeQuotaPool } from '../../shared/youtube.ts';
import type { ReelroomClient } from '../rest-client.ts';
import type { RoomSocket } from '../rooms.ts';
import { byId, el } from './dom.ts';
import { explain, explainCaught, whenInWords } from './explain.ts';
import { rememberProjectForReturn } from './return-to.ts';

export interface PublishPanelOptions {
  client: ReelroomClient;
  socket: RoomSocket;
  projectId: string;
  workspaceId: string;
  role: Role;
  /** Whether the server has a Google OAuth client for YouTube (`GET /features`). */
  configured: boolean;
  /** Removes the panel's listeners when the project closes. */
  signal: AbortSignal;
}

export interface PublishPanel {
  /** Reads channels and quota again. */
  refresh(): Promise<void>;
}

const number = (n: number) => n.toLocaleString('en-US');

export function openPublishPanel(options: PublishPanelOptions): PublishPanel {
  const { client, socket, projectId, workspaceId, role, configured, signal } = options;
  const on = { signal };
  const editor = role !== 'viewer';
  const notConfigured = byId('publish-not-configured');
  const body = byId('publish-body');
  const channelsList = byId('youtube-channels');
  const channelsEmpty = byId('youtube-channels-empty');
  const connect = byId<HTMLButtonElement>('youtube-connect');
  const quota = byId('youtube-quota');
  const form = byId<HTMLFormElement>('publish-form');
  const channelSelect = byId<HTMLSelectElement>('publish-channel');
  const privacy = byId<HTMLSelectElement>('publish-privacy');
  const start = byId<HTMLButtonElement>('publish-start');
  const errorLine = byId('publish-error');
  const status = byId('publish-status');
  notConfigured.hidden = configured;
  body.hidden = !configured;
  connect.hidden = !editor;
  form.hidden = !editor;
  errorLine.textContent = '';
  status.textContent = '';
  channelsList.replaceChildren();
  quota.replaceChildren();
  let closed = false;
  let pools: YoutubeQuotaPool[] = [];

  const showChannels = (channels: YoutubeChannel[]) => {
    channelsEmpty.hidden = channels.length > 0;
    channelsList.replaceChildren(
      ...channels.map((channel) => {
        const item = el(
          'li',
          { data: { channelId: channel.id, youtubeChannelId: channel.youtubeChannelId } },
          el('span', { className: 'channel-name', text: channel.title }),
          el('span', {
            className: 'muted',
            text: ` · connected ${new Date(channel.createdAt).toLocaleDateString()}`,
          }),
        );
        if (role === 'owner') {
          const disconnect = el('button', { className: 'secondary', text: 'Disconnect' });
          disconnect.type = 'button';
          disconnect.setAttribute('aria-label', `Disconnect ${channel.title}`);
          disconnect.addEventListener(
            'click',
            async () => {
              errorLine.textContent = '';
              try {
                await client.youtube.disconnect(channel.id);
              } catch (caught) {
                errorLine.textContent = explainCaught(caught);
              }
              await refresh();
            },
            on,
          );
          item.append(disconnect);
        }
        return item;
      }),
    );
    const chosen = channelSelect.value;
    channelSelect.replaceChildren(
      ...channels.map((channel) => {
        const option = el('option', { text: channel.title });
        option.value = channel.id;
        option.selected = channel.id === chosen;
        return option;
      }),
    );
    start.disabled = channels.length === 0;
    start.title = channels.length === 0 ? 'Connect a YouTube channel first.' : '';
  };

  const showQuota = () => {
    quota.replaceChildren(
      ...pools.map((pool, index) => {
        const uploadsLeft = Math.max(0, pool.uploadsLimit - pool.uploadsUsed);
        const unitsLeft = Math.max(0, pool.limitUnits - pool.usedUnits);
        const label = pools.length > 1 ? `Pool ${index + 1}: ` : '';
        const text = pool.exhausted
          ? `${label}${label ? 'quota' : 'Quota'} used up for today; it refills ${whenInWords(pool.resetAt)}.`
          : `${label}${number(uploadsLeft)} of ${number(pool.uploadsLimit)} uploads and ${number(unitsLeft)} of ${number(pool.limitUnits)} API units left today; refills ${whenInWords(pool.resetAt)}.`;
        return el('li', {
          text,
          data: { clientId: pool.clientId, exhausted: String(pool.exhausted) },
        });
      }),
    );
  };

  const refresh = async () => {
    if (!configured) return;
    try {
      const [channels, quotaNow] = await Promise.all([
        client.youtube.channels(workspaceId),
        client.youtube.quota(workspaceId),
      ]);
      if (closed) return;
      pools = quotaNow;
      showChannels(channels);
      showQuota();
    } catch (caught) {
      errorLine.textContent = `Publishing details could not be read: ${explainCaught(caught)}`;
    }
  };

  connect.addEventListener(
    'click',
    async () => {
      errorLine.textContent = '';
      connect.disabled = true;
      try {
        const { url } = await client.youtube.connect(workspaceId);
        // Google sends the browser back to `/`: the page opens this project again then.
        rememberProjectForReturn(projectId);
        location.assign(url);
      } catch (caught) {
        errorLine.textContent = explainCaught(caught);
        connect.disabled = false;
      }
    },
    on,
  );

  form.addEventListener(
    'submit',
    async (event) => {
      event.preventDefault();
      errorLine.textContent = '';
      status.textContent = '';
      const channelId = channelSelect.value;
      if (!channelId) {
        errorLine.textContent = 'Connect a YouTube channel first, then pick it here.';
        return;
      }
      // Refuse at once what the server would refuse before calling Google.
      const spent = pools.find((pool) => pool.exhausted);
      if (spent && pools.every((pool) => pool.exhausted)) {
        errorLine.textContent = explain({
          code: 'youtube_quota_exhausted',
          message: '',
          details: { resetAt: spent.resetAt },
        });
        return;
      }
      start.disabled = true;
      try {
        const run = await client.pipeline.start(projectId, {
          steps: ['publish'],
          publish: { channelId, privacy: privacy.value as 'private' | 'unlisted' | 'public' },
          idempotencyKey: crypto.randomUUID(),
        });
        const title = channelSelect.selectedOptions[0]?.textContent ?? 'the channel';
        status.textContent = `Publishing the latest video to ${title} (${privacy.value}); the upload shows in Pipeline.`;
        status.dataset.runId = run.id;
      } catch (caught) {
        errorLine.textContent = explainCaught(caught);
      } finally {
        start.disabled = channelSelect.options.length === 0;
      }
    },
    on,
  );

  // An upload spends quota and may fail on it: read both again when a publish step settles.
  const onPipeline: ServerToClientEvents['pipeline:progress'] = (event) => {
    if (event.step !== 'publish' || event.status === 'running' || event.status === 'queued') return;
    void refresh();
    if (event.runId !== status.dataset.runId) return;
    if (event.status === 'completed') {
      status.textContent = 'Published: the video is on YouTube (see Pipeline for its link).';
      return;
    }
    void client.pipeline
      .get(event.runId)
      .then((run) => {
        const failed = run.steps.find((step) => step.name === 'publish')?.error ?? run.error;
        status.textContent = '';
        errorLine.textContent = failed ? explain(failed) : `Publishing ${event.status}.`;
      })
      .catch((caught: unknown) => {
        errorLine.textContent = explainCaught(caught);
      });
  };
  socket.on('pipeline:progress', onPipeline);
  signal.addEventListener('abort', () => {
    closed = true;
    socket.off('pipeline:progress', onPipeline);
  });

  void refresh();
  return { refresh };
}
