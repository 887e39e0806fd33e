import type { WebsocketProvider } from 'y-websocket';
import { isInRoom, type RoomSocket, watchRooms } from '../rooms.ts';

/**
 * What the page says about its connection. `connecting` only before everything was up once;
 * `reconnecting` while any transport is down after that; `offline` while the browser says it
 * has no network at all (nothing can reconnect before it is back).
 */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'offline';

const LABELS: Record<ConnectionState, string> = {
  connecting: 'connecting…',
  connected: 'connected',
  reconnecting: 'reconnecting…',
  offline: 'offline',
};

export interface ConnectionStatusOptions {
  /** The Socket.IO connection; the project's room must be joined for the page to be live. */
  socket: RoomSocket;
  projectId: string;
  /** Every Yjs provider of the page: each must be connected and synced. */
  providers: WebsocketProvider[];
  /** Where the words go (also gets `data-state`). */
  label: HTMLElement;
  /** The coloured dot beside them (class `on` while connected). */
  dot: HTMLElement;
  /** Called on every change, e.g. to read back what was missed once connected again. */
  onChange?: (state: ConnectionState, previous: ConnectionState) => void;
}

/**
 * One status for all the page's transports: "connected" only while the Socket.IO room is
 * joined (not merely the socket connected: after a server restart the room must be joined
 * again before chat and presence flow) and every Yjs document is connected and synced.
 * Returns what stops watching.
 */
export function watchConnection(options: ConnectionStatusOptions): () => void {
  const { socket, projectId, providers, label, dot } = options;
  let everConnected = false;
  let state: ConnectionState | undefined;

  const update = () => {
    const live =
      isInRoom(socket, projectId) &&
      providers.every((provider) => provider.wsconnected && provider.synced);
    if (live) everConnected = true;
    // The browser's word first: with no network nothing is live, whatever a socket says yet.
    const next: ConnectionState = !navigator.onLine
      ? 'offline'
      : live
        ? 'connected'
        : everConnected
          ? 'reconnecting'
          : 'connecting';
    if (next === state) return;
    const previous = state ?? 'connecting';
    state = next;
    label.textContent = LABELS[next];
    label.dataset.state = next;
    dot.classList.toggle('on', next === 'connected');
    options.onChange?.(next, previous);
  };

  const stops: Array<() => void> = [watchRooms(socket, update)];
  const onSocket = () => update();
  socket.on('connect', onSocket);
  socket.on('disconnect', onSocket);
  stops.push(() => {
    socket.off('connect', onSocket);
    socket.off('disconnect', onSocket);
  });
  for (const provider of providers) {
    provider.on('status', update);
    provider.on('sync', update);
    stops.push(() => {
      provider.off('status', update);
      provider.off('sync', update);
    });
  }
  window.addEventListener('online', update);
  window.addEventListener('offline', update);
  stops.push(() => {
    window.removeEventListener('online', update);
    window.removeEventListener('offline', update);
  });
  // A safety net for changes no event announces (a provider's watchdog closing a dead socket).
  const timer = setInterval(update, 1000);
  stops.push(() => clearInterval(timer));
  update();
  return () => {
    for (const stop of stops) stop();
  };
}
