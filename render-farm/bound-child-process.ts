import { type ChildProcess, type SpawnOptions, spawn, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

/** Where util-linux's `setpriv` lives on Debian and most Linux systems (merged /usr or not). */
const SETPRIV_CANDIDATES = ['/usr/bin/setpriv', '/bin/setpriv'];

let setprivPath: string | null | undefined;

/**
 * The `setpriv` that can set a parent-death signal (Linux, util-linux 2.33 or newer), or null.
 * Looked up once per process.
 */
function findSetpriv(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  if (process.platform !== 'linux') return setprivPath;
  for (const candidate of SETPRIV_CANDIDATES) {
    try {
      accessSync(candidate, constants.X_OK);
    } catch {
      continue;
    }
    const help = spawnSync(candidate, ['--help'], { encoding: 'utf8', timeout: 5000 });
    if (help.status === 0 && help.stdout.includes('--pdeathsig')) {
      setprivPath = candidate;
      break;
    }
  }
  return setprivPath;
}

/**
 * Whether {@link spawnBoundToParent} can make its children die with this process here (false:
 * not Linux, or no `setpriv` with `--pdeathsig`).
 */
export function canBindChildrenToParent(): boolean {
  return findSetpriv() !== null;
}

/**
 * `child_process.spawn`, but the child is killed (SIGKILL) when this process dies, however it
 * dies: a worker killed with `kill -9` or by the OOM killer takes its FFmpeg with it instead of
 * leaving an orphan that encodes on to the end for nobody.
 *
 * On Linux it runs the command through `setpriv --pdeathsig SIGKILL --`, which sets the
 * parent-death signal (prctl PR_SET_PDEATHSIG) and then execs the command, so the pid is the
 * command's own. The signal fires when the thread that spawned the child exits; Node spawns
 * from the main thread, which lives as long as the process. Where there is no such `setpriv`
 * (other systems, util-linux older than 2.33) this is a plain spawn and a dead parent's child
 * runs to its end, as before.
 */
export function spawnBoundToParent(
  command: string,
  args: readonly string[],
  options: SpawnOptions,
): ChildProcess {
  const setpriv = findSetpriv();
  if (!setpriv) return spawn(command, args, options);
  return spawn(setpriv, ['--pdeathsig', 'SIGKILL', '--', command, ...args], options);
}
