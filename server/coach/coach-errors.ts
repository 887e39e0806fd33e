import { CoachErrorCodes } from '../../shared/coach.ts';
import { DomainError } from '../errors.ts';

const secondsUntil = (time: Date) => (time.getTime() - Date.now()) / 1000;

/** 429: the member used up their messages for today; `details.resetAt` says when that ends. */
export const dailyLimitReached = (limit: number, resetAt: Date) =>
  new DomainError(
    CoachErrorCodes.DailyLimitReached,
    `Daily limit of ${limit} coach messages reached; it resets at ${resetAt.toISOString()}`,
    {
      details: { limit, resetAt: resetAt.toISOString() },
      retryAfterSeconds: secondsUntil(resetAt),
    },
  );

/** 503: the service's AI spend for today reached the hard cap. */
export const spendCapReached = (capUsd: number, resetAt: Date) =>
  new DomainError(
    CoachErrorCodes.SpendCapReached,
    `The coach reached today's AI spending cap ($${capUsd.toFixed(2)}); replies resume at ${resetAt.toISOString()}`,
    {
      details: { capUsd, resetAt: resetAt.toISOString() },
      retryAfterSeconds: secondsUntil(resetAt),
    },
  );

export const unknownTemplate = (templateId: string) =>
  new DomainError(CoachErrorCodes.UnknownTemplate, `templateId: no plan template '${templateId}'`, {
    details: [{ path: ['templateId'], message: 'unknown template' }],
  });
