// The peer contenders' packages (Hocuspocus, the y-websocket reference server and their yjs)
// live in bench/realtime/peers with a lockfile of their own, so that the root install and CI
// never build sqlite3. Code here loads them through a require rooted in that folder.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const PEERS_DIR = fileURLToPath(new URL('../peers/', import.meta.url));

/**
 * `require` resolving from bench/realtime/peers. It loads the CommonJS builds, so a peer process
 * gets exactly one yjs (peers/node_modules/yjs/dist/yjs.cjs) whichever package asks for it.
 */
export const peerRequire = createRequire(`${PEERS_DIR}package.json`);

/** Installs the peers from their lockfile unless already there (sqlite3 compiles: ~2-4 min). */
export function ensurePeersInstalled(): void {
  if (existsSync(`${PEERS_DIR}node_modules`)) return;
  console.error(
    'bench/realtime/peers/node_modules is missing: running `npm ci --prefix bench/realtime/peers` ' +
      '(sqlite3 compiles from source, a few minutes)...',
  );
  execFileSync('npm', ['ci', '--prefix', PEERS_DIR, '--no-audit', '--no-fund'], {
    stdio: 'inherit',
  });
}
