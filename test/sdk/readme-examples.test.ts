import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NodeProcess, REPO_ROOT, spawnEntry } from '../support/processes.ts';

/** The README's examples: a ```ts block right after an `<!-- example: name -->` line. */
async function readmeExamples(): Promise<Map<string, string>> {
  const readme = await readFile(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const examples = new Map<string, string>();
  for (const match of readme.matchAll(/<!-- example: ([\w-]+) -->\n```ts\n([\s\S]*?)\n```/g)) {
    examples.set(match[1] as string, match[2] as string);
  }
  return examples;
}

/** What each example must print (every line matched in order), and how long it may take. */
const EXPECTED: Record<string, { lines: RegExp[]; timeoutMs: number }> = {
  'quick-tour': {
    lines: [/^project: Launch$/, /^coach: \S.{20,}/, /^script: # Cold open$/],
    timeoutMs: 60_000,
  },
  render: { lines: [/^render completed: \d{4,} bytes of video\/mp4$/], timeoutMs: 120_000 },
};

let server: NodeProcess;
let dataDir: string;
let workDir: string;
let examples: Map<string, string>;

beforeAll(async () => {
  examples = await readmeExamples();
  dataDir = await mkdtemp(path.join(tmpdir(), 'reelroom-readme-data-'));
  // A loaded machine (the suite runs beside other work) can take a while to start a node.
  server = await spawnEntry(
    'server/main.ts',
    { DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1' },
    { timeoutMs: 120_000 },
  );
  // The examples import `./client-sdk/index.ts` as a reader does from the checkout: a
  // directory of their own with the SDK and node_modules linked in, so nothing is written
  // into the checkout.
  workDir = await mkdtemp(path.join(tmpdir(), 'reelroom-readme-examples-'));
  await symlink(path.join(REPO_ROOT, 'client-sdk'), path.join(workDir, 'client-sdk'));
  await symlink(path.join(REPO_ROOT, 'node_modules'), path.join(workDir, 'node_modules'));
  await writeFile(path.join(workDir, 'package.json'), '{"type": "module"}\n');
  await mkdir(path.join(workDir, 'out'));
}, 150_000);

afterAll(async () => {
  await server?.stop();
  await Promise.all(
    [dataDir, workDir].filter(Boolean).map((dir) => rm(dir, { recursive: true, force: true })),
  );
});

/** Runs one example with Node (`node --import tsx`) and waits for it to exit on its own. */
async function run(name: string, source: string, timeoutMs: number) {
  const file = path.join(workDir, `${name}.ts`);
  await writeFile(file, source);
  const child = spawn(process.execPath, ['--import', 'tsx', file], {
    cwd: workDir,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      REELROOM_URL: server.url,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  // No kill on success: an example that leaves a socket or a timer open never exits, and
  // that is the failure this catches.
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearTimeout(timer);
  return { code, signal, stdout, stderr };
}

describe('README examples run as written on Node 20', () => {
  it('finds every example the test expects, and no unknown one', async () => {
    expect([...examples.keys()].sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  for (const [name, expected] of Object.entries(EXPECTED)) {
    it(
      `${name}: exits by itself with code 0 and prints what it says`,
      async () => {
        const source = examples.get(name);
        expect(source, name).toBeDefined();
        const result = await run(name, source ?? '', expected.timeoutMs);
        expect(
          { code: result.code, signal: result.signal },
          `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`,
        ).toEqual({ code: 0, signal: null });
        const lines = result.stdout.split('\n');
        for (const pattern of expected.lines) {
          expect(
            lines.some((line) => pattern.test(line)),
            `${pattern} in:\n${result.stdout}`,
          ).toBe(true);
        }
      },
      expected.timeoutMs + 10_000,
    );
  }
});
