import { eq } from 'drizzle-orm';
import type { CreatorProfile, CreatorProfileBody } from '../../shared/coach.ts';
import type { Db } from '../db/index.ts';
import { tables } from '../db/index.ts';

/** Creator profiles: one per user, replaced as a whole by PUT. */
export class ProfileStore {
  constructor(private readonly db: Db) {}

  async get(userId: string): Promise<CreatorProfile | null> {
    const [row] = await this.db
      .select()
      .from(tables.creatorProfiles)
      .where(eq(tables.creatorProfiles.userId, userId));
    return row ? { ...row, updatedAt: row.updatedAt.toISOString() } : null;
  }

  async put(userId: string, body: CreatorProfileBody): Promise<CreatorProfile> {
    const values = { ...body, userId, updatedAt: new Date() };
    const [row] = await this.db
      .insert(tables.creatorProfiles)
      .values(values)
      .onConflictDoUpdate({ target: tables.creatorProfiles.userId, set: values })
      .returning();
    return { ...row!, updatedAt: row!.updatedAt.toISOString() };
  }
}
