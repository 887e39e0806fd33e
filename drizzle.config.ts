import { defineConfig } from 'drizzle-kit';

// Migrations are generated from server/db/schema and applied at start-up and by `npm run migrate`,
// the same files on PGlite and on Postgres.
export default defineConfig({
  dialect: 'postgresql',
  schema: './server/db/schema/index.ts',
  out: './server/db/migrations',
});
