// Bundles the server's entry points into .build/ for `npm start` and friends, so a node runs
// plain JavaScript: under tsx every process also carries tsx's loader thread and the compiled
// sources (an idle embedded node: 390-415 MB resident under tsx, 269 MB as a bundle). Tests
// run the TypeScript directly through tsx.
//
// Takes under a second, so every start builds: the bundle cannot be older than the sources.
// Each file is written to a temporary name and renamed into place, chunks before entries, so a
// node starting while another start builds never reads half a file; chunks are named by
// content and old ones are left for nodes still running on them.
//
// Every module keeps its own `import.meta.url` (its source file), so the files it finds next to
// itself (migrations, templates, price tables, the database worker) are found where they are.
// Packages stay external, and each dynamic import is its own chunk: an SDK loaded only when it
// is configured stays unloaded otherwise.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Replaces `import.meta.url` in each of our TypeScript files with that file's own URL. */
const sourceUrls = {
  name: 'source-import-meta-url',
  setup(builder) {
    builder.onLoad({ filter: /\.ts$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const url = JSON.stringify(pathToFileURL(args.path).href);
      return { contents: source.replaceAll('import.meta.url', url), loader: 'ts' };
    });
  },
};

const outdir = path.join(root, '.build');
const entryPoints = {
  main: 'server/main.ts',
  'api-main': 'server/api-main.ts',
  'worker-main': 'server/worker-main.ts',
  'migrate-main': 'server/migrate-main.ts',
};

const result = await build({
  absWorkingDir: root,
  entryPoints,
  outdir,
  write: false,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: `node${process.versions.node.split('.')[0]}`,
  packages: 'external',
  outExtension: { '.js': '.mjs' },
  plugins: [sourceUrls],
  logLevel: 'warning',
});

const entryFiles = new Set(
  Object.keys(entryPoints).map((name) => path.join(outdir, `${name}.mjs`)),
);
const files = [...result.outputFiles].sort(
  (a, b) => Number(entryFiles.has(a.path)) - Number(entryFiles.has(b.path)),
);
await mkdir(outdir, { recursive: true });
for (const file of files) {
  const temporary = `${file.path}.${process.pid}.tmp`;
  await writeFile(temporary, file.contents);
  await rename(temporary, file.path);
}
