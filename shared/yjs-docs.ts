import { z } from 'zod';
import { canonicalId } from './ids.ts';

/**
 * The Yjs documents of a project and how their names are spelled on the wire
 * (`/yjs/project/<projectId>/script`). Every other name is refused.
 */
export const YJS_DOC_KINDS = ['script', 'plan'] as const;
export type YjsDocKind = (typeof YJS_DOC_KINDS)[number];

/** Name of the Y.Text holding the script in `project/<id>/script`. */
export const SCRIPT_TEXT = 'script';
/** Name of the Y.Map holding the plan's phases and tasks in `project/<id>/plan`. */
export const PLAN_MAP = 'plan';
/** Name of the Y.Array holding the detected decisions in `project/<id>/plan`. */
export const PLAN_DECISIONS = 'decisions';

export type YjsDocName = `project/${string}/${YjsDocKind}`;

export interface ParsedDocName {
  projectId: string;
  kind: YjsDocKind;
  name: YjsDocName;
}

/**
 * Project ids are opaque to the wire; we only insist on a URL- and channel-safe token so a name
 * can never smuggle a slash, a wildcard or whitespace into a path, a Redis channel or a DB key.
 * Names carry the id's canonical spelling (lower case, see `canonicalId`): a document opened as
 * `project/ABC…/script` is `project/abc…/script`, never a second copy of it.
 */
const PROJECT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The document name of a project's script or plan (the id in its canonical spelling). */
export function yjsDocName(projectId: string, kind: YjsDocKind): YjsDocName {
  if (!PROJECT_ID.test(projectId)) throw new Error(`invalid project id: ${projectId}`);
  return `project/${canonicalId(projectId)}/${kind}`;
}

/**
 * Parses `project/<projectId>/<kind>`; null for any other name. `projectId` and `name` come
 * back canonical (the id in lower case), whatever spelling the name had.
 */
export function parseYjsDocName(name: string): ParsedDocName | null {
  const parts = name.split('/');
  if (parts.length !== 3 || parts[0] !== 'project') return null;
  const [, projectId, kind] = parts as [string, string, string];
  if (!PROJECT_ID.test(projectId)) return null;
  if (!(YJS_DOC_KINDS as readonly string[]).includes(kind)) return null;
  const id = canonicalId(projectId);
  return { projectId: id, kind: kind as YjsDocKind, name: `project/${id}/${kind as YjsDocKind}` };
}

/** `GET /projects/:id/script`: the script's current text, for clients without Yjs. */
export const projectScriptSchema = z
  .object({
    projectId: z.uuid(),
    /** The Y.Text `script` of `project/<projectId>/script`, as plain text. */
    text: z.string(),
  })
  .meta({ id: 'ProjectScript' });
export type ProjectScript = z.infer<typeof projectScriptSchema>;
