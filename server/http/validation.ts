import type { Hook } from '@hono/zod-openapi';
import type { z } from 'zod';
import { ValidationError } from '../errors.ts';
import type { AppEnv } from './app-env.ts';

/** `email: Invalid email address; name: Required`: each problem with the field it concerns. */
export function describeIssues(target: string, issues: z.core.$ZodIssue[]): string {
  return issues
    .slice(0, 5)
    .map((issue) => {
      const path = issue.path.length > 0 ? issue.path.join('.') : target;
      if (issue.code === 'unrecognized_keys') {
        return `${path === target ? '' : `${path}: `}unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
      }
      return `${path}: ${issue.message}`;
    })
    .join('; ');
}

const TARGET_NAMES: Record<string, string> = {
  json: 'body',
  form: 'body',
  param: 'path',
  query: 'query',
  header: 'header',
};

/**
 * Hook for every validator: a failed body, query or param becomes a 400 whose message names
 * the fields, with the zod issues as details.
 */
// biome-ignore lint/suspicious/noExplicitAny: the hook is shared by routes of every input type.
export const validationHook: Hook<any, AppEnv, any, any> = (result, _c) => {
  if (!result.success) {
    const issues = result.error.issues;
    const target = TARGET_NAMES[result.target] ?? result.target;
    throw new ValidationError(
      `Invalid ${target}: ${describeIssues(target, issues)}`,
      issues.map((issue) => ({ path: issue.path, message: issue.message, code: issue.code })),
    );
  }
};
