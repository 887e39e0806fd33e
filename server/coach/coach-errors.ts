import { CoachErrorCodes } from '../../shared/coach.ts';
import { ApiError } from '../errors.ts';

const secondsUntil = (time: Date) => Math.max(1, Math.ceil((time.getTime() - Date.now()) / 1000));

/** 429: the member used up their messages for today; `details.resetAt` says when that ends. */
export const dailyLimitReached = (limit: number, resetAt: Date) =>
  new ApiError(
    429,
    CoachErrorCodes.DailyLimitReached,
    `Daily limit of ${limit} coach messages reached; it resets at ${resetAt.toISOString()}`,
    { limit, resetAt: resetAt.toISOString() },
    { 'Retry-After': String(secondsUntil(resetAt)) },
  );

/** 503: the service's AI spend for today reached the hard cap. */
export const spendCapReached = (capUsd: number, resetAt: Date) =>
  new ApiError(
    503,
    CoachErrorCodes.SpendCapReached,
    `The coach reached today's AI spending cap ($${capUsd.toFixed(2)}); replies resume at ${resetAt.toISOString()}`,
    { capUsd, resetAt: resetAt.toISOString() },
    { 'Retry-After': String(secondsUntil(resetAt)) },
  );

export const unknownTemplate = (templateId: string) =>
  new ApiError(
    400,
    CoachErrorCodes.UnknownTemplate,
    `templateId: no plan template '${templateId}'`,
    [{ path: ['templateId'], message: 'unknown template' }],
  );
