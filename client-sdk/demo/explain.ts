// What an error code means, in words for the person at the page. One place, so a code reads
// the same in the Pipeline, Team, Credits and Publishing regions.
import { ReelroomApiError } from '../api-error.ts';
import { messageOf } from './dom.ts';

/** An API error or a failed step's error, as the page gets it. */
export interface ExplainableError {
  code?: string;
  message: string;
  status?: number;
  details?: unknown;
}

/** "tomorrow at 09:00" / "today at 23:30" / a date: when a reset happens, in the reader's time. */
export function whenInWords(iso: string, now = new Date()): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return 'later';
  const time = at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const day = (d: Date) => d.toDateString();
  const tomorrow = new Date(now.getTime() + 86_400_000);
  if (day(at) === day(now)) return `today at ${time}`;
  if (day(at) === day(tomorrow)) return `tomorrow at ${time}`;
  return `${at.toLocaleDateString([], { weekday: 'long', month: 'long', day: 'numeric' })} at ${time}`;
}

/** The `resetAt` an error carries in its details, if any. */
function resetAtOf(details: unknown): string | undefined {
  const value = (details as { resetAt?: unknown } | undefined)?.resetAt;
  return typeof value === 'string' ? value : undefined;
}

/** What a failed step or refused request means, in words for the person at the page. */
export function explain(error: ExplainableError): string {
  switch (error.code) {
    case 'insufficient_credits':
      return 'The workspace is out of credits for this step. An owner can add credits, then press Retry.';
    case 'spend_limit_reached':
      return 'This step would pass the spending limit (per video or per day), so it did not start.';
    case 'script_empty':
      return 'The script has no scenes yet. Write some first: one scene per block, blocks separated by a line with ---.';
    case 'script_not_empty':
      return 'The script already has text, so a draft would overwrite it. Run the other steps instead.';
    case 'missing_input':
      return `A step needs something an earlier step makes: ${error.message}.`;
    case 'publish_not_configured':
      return 'Publishing to YouTube is not set up on this server.';
    case 'youtube_quota_exhausted': {
      const resetAt = resetAtOf(error.details);
      return `YouTube's daily upload quota for this server is used up. It refills ${resetAt ? whenInWords(resetAt) : 'at midnight Pacific time'}; publish again then.`;
    }
    case 'youtube_upload_limit':
      return 'This YouTube channel reached its own daily upload limit. Try again tomorrow, or publish to another channel.';
    case 'youtube_no_channel':
      return 'That YouTube channel is not connected to this workspace any more. Connect it again or pick another.';
    case 'google_error':
      return 'Google refused or did not answer. Try again in a moment.';
    case 'deadline_exceeded':
      return 'This step took too long and was stopped. Press Retry to try again.';
    case 'cancelled':
      return 'Cancelled.';
    case 'payments_configured':
      return 'Payments are set up on this server: buy credits instead of adding them.';
    case 'already_member':
      return 'That person is already a member of this workspace.';
    case 'already_invited':
      return 'That email is already invited; they join when they sign up.';
    case 'last_owner':
      return 'A workspace needs at least one owner: make someone else an owner first.';
    case 'email_taken':
      return 'An account with this email already exists: log in instead.';
    case 'invalid_credentials':
      return 'Email or password is incorrect.';
    case 'forbidden':
      return "You can't do this with your role in the workspace; ask an owner.";
    case 'rate_limited':
      return 'Too many requests right now; wait a moment and try again.';
    default:
      if (error.status === 403)
        return "You can't do this with your role in the workspace; ask an owner.";
      if (error.status === 404) return 'This is gone, or you are no longer a member.';
      if (error.status !== undefined && error.status >= 500)
        return 'The server ran into a problem. Try again in a moment.';
      return error.message.charAt(0).toUpperCase() + error.message.slice(1);
  }
}

/** {@link explain} for anything a call threw: API errors, a network failure, the rest. */
export function explainCaught(caught: unknown): string {
  if (caught instanceof ReelroomApiError) {
    return explain({
      code: caught.code,
      message: caught.message,
      status: caught.status,
      details: caught.details,
    });
  }
  if (caught instanceof TypeError) return 'The server could not be reached. Check the connection.';
  return messageOf(caught);
}
