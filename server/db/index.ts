export {
  type Database,
  type DatabaseOptions,
  type Db,
  openDatabase,
  type Schema,
  type Tx,
} from './database.ts';
export * as tables from './schema/index.ts';
