/**
 * Where the real services of the test run live. Tests never read process.env elsewhere:
 * CI and developers point the suite at other hosts with these two variables.
 */
export const TEST_POSTGRES_URL =
  process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
