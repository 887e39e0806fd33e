// Peer contender: the y-websocket reference server (@y/websocket-server 0.1.1, the last one on
// yjs 13), in memory, as its own bin/server.js runs it: the document name is the URL path.
//
//   node --import tsx bench/realtime/typing/y-websocket-server.ts
import { createServer } from 'node:http';
import { peerRequire } from './peers.ts';

type WsServer = {
  handleUpgrade(...args: unknown[]): void;
  emit(event: string, ...args: unknown[]): void;
  on(event: string, listener: (...args: unknown[]) => void): void;
};
const { WebSocketServer } = peerRequire('ws') as {
  WebSocketServer: new (options: { noServer: true }) => WsServer;
};
const { setupWSConnection } = peerRequire('@y/websocket-server/utils') as {
  setupWSConnection: (...args: unknown[]) => void;
};

const wss = new WebSocketServer({ noServer: true });
wss.on('connection', setupWSConnection);
const server = createServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'text/plain' });
  response.end('okay');
});
server.on('upgrade', (request, socket, head) => {
  wss.handleUpgrade(request, socket, head, (ws: unknown) => wss.emit('connection', ws, request));
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
});
