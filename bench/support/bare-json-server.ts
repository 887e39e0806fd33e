// Baseline for REST benchmarks: a bare node:http server answering the same JSON as the route
// under test, with nothing else in the way.
import { createServer } from 'node:http';

const body = process.argv[2] ?? '{"status":"ok"}';
const server = createServer((_req, res) => {
  res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address === 'object')
    process.stdout.write(`{"url":"http://127.0.0.1:${address.port}"}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
