/** What a finished render left in storage; keys are relative to the storage directory. */
export interface RenderOutput {
  videoKey: string;
  thumbnailKey: string;
  durationSec: number;
  bytes: number;
}

/**
 * Where a render's status lives (the database is the source of truth). Every write is fenced
 * by the queue's attempt number: it succeeds only while the job is not final and no newer
 * attempt has written, and it records `attempt` as the job's attempt. A worker whose job was
 * taken over therefore gets `false` and stops; every job ends in exactly one final state.
 */
export interface RenderJobStore {
  /** Status `running` for this attempt. */
  markRunning(renderId: string, attempt: number): Promise<boolean>;
  /** Progress 0..1 of a running attempt. */
  updateProgress(renderId: string, attempt: number, progress: number): Promise<boolean>;
  /** Back to `queued`: a retry waits, or the job was handed back on shutdown. */
  markQueued(renderId: string, attempt: number, error?: string): Promise<boolean>;
  /** Final `completed` with the outputs. */
  markCompleted(renderId: string, attempt: number, output: RenderOutput): Promise<boolean>;
  /** Final `failed` with the error. */
  markFailed(renderId: string, attempt: number, error: string): Promise<boolean>;
  /** Final `cancelled`. */
  markCancelled(renderId: string, attempt: number): Promise<boolean>;
}
