import { z } from 'zod';
import { emailSchema } from './accounts.ts';
import { text } from './text.ts';

export const ROLES = ['owner', 'editor', 'viewer'] as const;
export const roleSchema = z.enum(ROLES);
export type Role = z.infer<typeof roleSchema>;

export const workspaceIdParamsSchema = z.strictObject({ id: z.uuid() });
export const memberParamsSchema = z.strictObject({ id: z.uuid(), userId: z.uuid() });
export const invitationParamsSchema = z.strictObject({ id: z.uuid(), invitationId: z.uuid() });

export const createWorkspaceBodySchema = z
  .strictObject({ name: text().trim().min(1).max(100) })
  .meta({ id: 'CreateWorkspaceBody' });

export const addMemberBodySchema = z
  .strictObject({ email: emailSchema, role: roleSchema })
  .meta({ id: 'AddMemberBody' });

export const updateMemberBodySchema = z
  .strictObject({ role: roleSchema })
  .meta({ id: 'UpdateMemberBody' });

export const workspaceSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    /** The caller's role in this workspace. */
    role: roleSchema,
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'Workspace' });
export type Workspace = z.infer<typeof workspaceSchema>;

export const memberSchema = z
  .object({
    userId: z.uuid(),
    email: z.string(),
    name: z.string(),
    role: roleSchema,
    joinedAt: z.iso.datetime(),
  })
  .meta({ id: 'Member' });
export type Member = z.infer<typeof memberSchema>;

/**
 * An email invited to a workspace before it has an account. The account made with that email
 * becomes a member with `role` at signup; owners may revoke it until then.
 */
export const invitationSchema = z
  .object({
    id: z.uuid(),
    workspaceId: z.uuid(),
    email: z.string(),
    role: roleSchema,
    /** The owner who invited, or null once their account is gone. */
    invitedBy: z.uuid().nullable(),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'Invitation' });
export type Invitation = z.infer<typeof invitationSchema>;
