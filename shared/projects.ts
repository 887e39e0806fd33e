import { z } from 'zod';
import { text } from './text.ts';

const title = text().trim().min(1).max(200);
const topic = text().trim().min(1).max(2000);

export const projectIdParamsSchema = z.strictObject({ id: z.uuid() });

export const createProjectBodySchema = z
  .strictObject({ workspaceId: z.uuid(), title, topic })
  .meta({ id: 'CreateProjectBody' });

export const updateProjectBodySchema = z
  .strictObject({ title: title.optional(), topic: topic.optional() })
  .refine((body) => body.title !== undefined || body.topic !== undefined, {
    message: 'give title or topic',
  })
  .meta({ id: 'UpdateProjectBody' });

export const projectSchema = z
  .object({
    id: z.uuid(),
    workspaceId: z.uuid(),
    title: z.string(),
    topic: z.string(),
    createdBy: z.uuid().nullable(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .meta({ id: 'Project' });
export type Project = z.infer<typeof projectSchema>;
