export {
  type Database,
  type DatabaseOptions,
  type Db,
  openDatabase,
  type Schema,
  type Tx,
} from './database.ts';
export type { DatabaseThreadMemory } from './pglite-thread.ts';
export * as tables from './schema/index.ts';
