// Peer contender: Hocuspocus 3.4.4 with its SQLite extension on a file, as its docs set it up.
// Pinned to 3.x because v4 needs Node 22 and this project runs on Node 20.
// Its defaults are kept (onStoreDocument debounced 2 s, at most 10 s): that is what its users get.
//
//   node --import tsx bench/realtime/typing/hocuspocus-server.ts <sqlite file>
//
// Prints {"url": ...} once listening (port 0) and {"unloaded": name} when a document was stored
// and left memory, which the harness waits for before it reopens the file.
import { peerRequire } from './peers.ts';

interface HocuspocusServer {
  listen(): Promise<unknown>;
  readonly address: { port: number };
}
const { Server } = peerRequire('@hocuspocus/server') as {
  Server: new (configuration: Record<string, unknown>) => HocuspocusServer;
};
const { SQLite } = peerRequire('@hocuspocus/extension-sqlite') as {
  SQLite: new (configuration: { database: string }) => object;
};

const file = process.argv[2];
if (!file) throw new Error('usage: hocuspocus-server.ts <sqlite file>');

const server = new Server({
  port: 0,
  address: '127.0.0.1',
  quiet: true,
  // A SIGKILL is how the harness stops it; no graceful store on exit that would hide a loss.
  stopOnSignals: false,
  extensions: [new SQLite({ database: file })],
  async afterUnloadDocument({ documentName }: { documentName: string }) {
    process.stdout.write(`${JSON.stringify({ unloaded: documentName })}\n`);
  },
});
await server.listen();
process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${server.address.port}` })}\n`);
