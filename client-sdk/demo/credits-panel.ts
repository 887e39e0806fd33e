// The workspace's credits on the project page: the balance (kept current by the room's
// pipeline and render events, since steps charge and refund it), the packages and a checkout
// button when the server takes payments (Stripe), and the owner's "Add credits" grant when it
// does not.
import type { CreditPackage } from '../../shared/billing.ts';
import type { ServerToClientEvents } from '../../shared/socket-events.ts';
import type { Role } from '../../shared/workspaces.ts';
import { ReelroomApiError } from '../api-error.ts';
import type { ReelroomClient } from '../rest-client.ts';
import type { RoomSocket } from '../rooms.ts';
import { byId, el } from './dom.ts';
import { explainCaught } from './explain.ts';
import { rememberProjectForReturn } from './return-to.ts';

export interface CreditsPanelOptions {
  client: ReelroomClient;
  socket: RoomSocket;
  projectId: string;
  workspaceId: string;
  role: Role;
  /** Whether the server takes payments (`GET /features`): packages and checkout, or grants. */
  payments: boolean;
  /** Removes the panel's listeners when the project closes. */
  signal: AbortSignal;
  /**
   * Credits an owner adds in one click while payments are off. Default 500: enough for a few
   * short videos at the default prices.
   */
  grantCredits?: number;
}

export interface CreditsPanel {
  /** Reads the balance again. */
  refresh(): Promise<void>;
}

/** Statuses after which a step or render has charged or refunded its credits. */
const SETTLED = new Set(['completed', 'failed', 'cancelled']);

export function openCreditsPanel(options: CreditsPanelOptions): CreditsPanel {
  const { client, socket, projectId, workspaceId, role, payments, signal } = options;
  const grantCredits = options.grantCredits ?? 500;
  const balance = byId('credits');
  const grant = byId<HTMLButtonElement>('add-credits');
  const shop = byId('credit-packages');
  const errorLine = byId('credits-error');
  const owner = role === 'owner';
  balance.textContent = '';
  errorLine.textContent = '';
  grant.hidden = !owner || payments;
  grant.disabled = false;
  shop.replaceChildren();
  shop.hidden = !payments;
  let closed = false;

  const refresh = async () => {
    try {
      const wallet = await client.billing.balance(workspaceId);
      if (closed) return;
      balance.textContent = `${wallet.balance} credits`;
      balance.title = wallet.plan ? `${wallet.plan.name} plan (${wallet.plan.status})` : '';
    } catch (caught) {
      balance.textContent = '';
      errorLine.textContent = `The balance could not be read: ${explainCaught(caught)}`;
    }
  };

  grant.addEventListener(
    'click',
    async () => {
      errorLine.textContent = '';
      grant.disabled = true;
      try {
        const granted = await client.billing.grant({
          workspaceId,
          credits: grantCredits,
          reason: 'Added from the web app to try the pipeline',
        });
        balance.textContent = `${granted.balance} credits`;
      } catch (caught) {
        errorLine.textContent = explainCaught(caught);
        // With Stripe configured grants are off for good: no button that always fails.
        if (caught instanceof ReelroomApiError && caught.code === 'payments_configured') {
          grant.hidden = true;
        }
      } finally {
        grant.disabled = false;
      }
    },
    { signal },
  );

  const checkout = async (pack: CreditPackage, button: HTMLButtonElement) => {
    errorLine.textContent = '';
    button.disabled = true;
    try {
      const { url } = await client.billing.checkout({
        workspaceId,
        packageId: pack.id,
      });
      // Stripe sends the buyer back to `/`: the page opens this project again then.
      rememberProjectForReturn(projectId);
      location.assign(url);
    } catch (caught) {
      errorLine.textContent = explainCaught(caught);
      button.disabled = false;
    }
  };

  const showPackages = async () => {
    try {
      const { packages } = await client.billing.packages();
      if (closed) return;
      const items = packages.map((pack) => {
        const buy = el('button', {
          className: 'secondary',
          text: pack.kind === 'subscription' ? 'Subscribe' : 'Buy',
        });
        buy.type = 'button';
        buy.disabled = !owner;
        const what =
          pack.kind === 'subscription'
            ? `${pack.name}: ${pack.credits} credits a month for $${pack.priceUsd.toFixed(2)}`
            : `${pack.name}: ${pack.credits} credits for $${pack.priceUsd.toFixed(2)}`;
        buy.setAttribute('aria-label', `${buy.textContent} ${what}`);
        buy.addEventListener('click', () => void checkout(pack, buy), { signal });
        return el(
          'li',
          { data: { packageId: pack.id } },
          el('span', { className: 'package', text: what }),
          buy,
        );
      });
      shop.replaceChildren(
        el('h3', { className: 'muted', text: 'Buy credits' }),
        el('ul', { className: 'plain' }, ...items),
        ...(owner
          ? []
          : [el('p', { className: 'muted', text: 'Only owners of the workspace buy credits.' })]),
      );
    } catch (caught) {
      errorLine.textContent = `The credit packages could not be read: ${explainCaught(caught)}`;
    }
  };

  // Charges and refunds happen when steps and renders start and settle: read the balance then.
  const onPipeline: ServerToClientEvents['pipeline:progress'] = (event) => {
    if (event.progress === 0 || SETTLED.has(event.status)) void refresh();
  };
  const onRender: ServerToClientEvents['render:progress'] = (event) => {
    if (SETTLED.has(event.status)) void refresh();
  };
  // Back from Stripe Checkout in another tab, or after a while away: the balance may have moved.
  const onFocus = () => void refresh();
  socket.on('pipeline:progress', onPipeline);
  socket.on('render:progress', onRender);
  window.addEventListener('focus', onFocus, { signal });
  signal.addEventListener('abort', () => {
    closed = true;
    socket.off('pipeline:progress', onPipeline);
    socket.off('render:progress', onRender);
  });

  void refresh();
  if (payments) void showPackages();
  return { refresh };
}
