// The baseline for bench/realtime: a bare `ws` broadcast server. It subscribes to one Redis
// channel and sends every message on it to every connected client, which is the least any
// multi-node broadcast has to do (the same topology as Socket.IO with its Redis adapter).
//
//   node --import tsx bench/realtime/raw-ws-server.ts <port> <redisUrl> <channel>
import { createServer } from 'node:http';
import { createClient } from 'redis';
import { WebSocketServer } from 'ws';

const [portArg, redisUrl, channel] = process.argv.slice(2);
if (!portArg || !redisUrl || !channel)
  throw new Error('usage: raw-ws-server <port> <redisUrl> <channel>');

const http = createServer((_request, response) => response.writeHead(200).end('ok'));
const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
const subscriber = createClient({ url: redisUrl });
await subscriber.connect();
await subscriber.subscribe(channel, (message) => {
  for (const client of wss.clients) client.send(message);
});
http.listen(Number(portArg), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${portArg}` })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
