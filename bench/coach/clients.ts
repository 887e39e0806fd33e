// Child process of bench/coach/run.ts: N socket.io clients in one project room, recording when
// each chat:token arrives. Runs apart from the node so clients and server do not share a loop.
import { performance } from 'node:perf_hooks';
import { io as ioClient, type Socket } from 'socket.io-client';
import type { ClientToServerEvents, ServerToClientEvents } from '../../shared/socket-events.ts';

type Message =
  | { type: 'clock'; id: number }
  | { type: 'reset' }
  | { type: 'expect'; replyId: string; tokens: number };

const url = process.env.BENCH_URL!;
const token = process.env.BENCH_TOKEN!;
const projectId = process.env.BENCH_PROJECT!;
const clients = Number(process.env.BENCH_CLIENTS ?? '50');
const now = () => performance.timeOrigin + performance.now();

const sockets: Array<Socket<ServerToClientEvents, ClientToServerEvents>> = [];
/** received[client][tokenIndex] = wall time in ms (fractional). */
const received: number[][] = [];
let expected: { replyId: string; tokens: number } | null = null;
let finished = 0;

for (let i = 0; i < clients; i += 1) {
  const socket: Socket<ServerToClientEvents, ClientToServerEvents> = ioClient(url, {
    auth: { token },
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
  });
  const times: number[] = [];
  received.push(times);
  socket.on('chat:token', ({ delta }) => {
    // Deltas are `t<index> ` (several when the coach merged a burst); the index ties the
    // arrival to the provider's emit time.
    const at = now();
    for (const piece of delta.split(' ')) if (piece) times[Number(piece.slice(1))] = at;
  });
  socket.on('chat:done', ({ messageId }) => {
    if (messageId !== expected?.replyId) return;
    finished += 1;
    if (finished === clients) process.send!({ type: 'done', received });
  });
  sockets.push(socket);
}
await Promise.all(
  sockets.map(async (socket) => {
    const ack = await socket.timeout(30_000).emitWithAck('project:join', { projectId });
    if (!('ok' in ack)) throw new Error(`join failed: ${JSON.stringify(ack)}`);
  }),
);
process.on('message', (message: Message) => {
  if (message.type === 'clock') process.send!({ type: 'clock', id: message.id, time: now() });
  if (message.type === 'expect') expected = message;
  if (message.type === 'reset') {
    finished = 0;
    expected = null;
    for (const times of received) times.length = 0;
    process.send!({ type: 'reset' });
  }
});
process.send!({ type: 'ready' });
