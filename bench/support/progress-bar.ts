import cliProgress from 'cli-progress';

/**
 * A progress bar on stderr for benchmark runs that take a minute or more; stdout keeps only
 * the figures.
 */
export function progressBar(total: number, label = 'measuring') {
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {value}/{total} {duration_formatted}`, stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return { tick: () => bar.increment(), done: () => bar.stop() };
}
