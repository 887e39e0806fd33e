// Child process of bench/coach/run.ts: the local OpenAI-compatible provider, in a process of
// its own as a hosted model is. Sharing the node's event loop, its write loop and the node's
// parsing took turns on one thread, and the provider's own CPU counted as latency the coach
// added. Records when each token was written, in this process's clock.
import { FakeLlmServer } from '../../test/coach/support/fake-llm-server.ts';
import { now } from './ipc-peer.ts';

type Message = { type: 'clock'; id: number } | { type: 'configure'; delayMs: number };

const tokens = Number(process.env.BENCH_TOKENS ?? '2000');
let delayMs = 0;
let emitTimes: number[] = [];

const fake = await FakeLlmServer.start('openai', {
  reply: () => ({
    tokens: Array.from({ length: tokens }, (_, i) => `t${i} `),
    delayMs,
    usage: { inputTokens: 100, outputTokens: tokens },
  }),
  onTokenWritten: (index) => {
    emitTimes[index] = now();
    if (index === tokens - 1) process.send!({ type: 'emitted', times: emitTimes });
  },
});
process.on('message', (message: Message) => {
  if (message.type === 'clock') process.send!({ type: 'clock', id: message.id, time: now() });
  if (message.type === 'configure') {
    delayMs = message.delayMs;
    emitTimes = [];
    process.send!({ type: 'configured' });
  }
});
process.send!({ type: 'ready', baseUrl: fake.baseUrl });
