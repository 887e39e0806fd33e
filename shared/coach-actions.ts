// Coach suggestions a member can carry out with one click. The coach writes them into its reply
// as Markdown links with a fragment address (`[Make the video](#coach-action:make-video)`), so
// they travel in the stored text and in `chat:token` without any new wire field, read as plain
// links anywhere else, and the web app turns them into buttons that call the REST routes.
// No zod here: the web app's bundle imports this file.

/** What a suggestion does when clicked. */
export type CoachAction =
  /** `POST /projects/:id/plan {templateId}`: start the plan from this template. */
  | { kind: 'start-template'; templateId: string }
  /** `POST /projects/:id/pipeline-runs`: make the video from the script (the default steps). */
  | { kind: 'make-video' };

/** The start of every action link's address. */
export const COACH_ACTION_PREFIX = '#coach-action:';

const TEMPLATE_ID = /^[a-z0-9-]{1,100}$/;

/** The link address of an action, for a Markdown link in a reply. */
export function coachActionHref(action: CoachAction): string {
  switch (action.kind) {
    case 'start-template':
      return `${COACH_ACTION_PREFIX}start-template/${action.templateId}`;
    case 'make-video':
      return `${COACH_ACTION_PREFIX}make-video`;
  }
}

/** The action a link address names, or null for any other address (an ordinary link). */
export function parseCoachAction(href: string): CoachAction | null {
  if (!href.startsWith(COACH_ACTION_PREFIX)) return null;
  const [kind, argument] = href.slice(COACH_ACTION_PREFIX.length).split('/', 2);
  if (kind === 'make-video' && argument === undefined) return { kind };
  if (kind === 'start-template' && argument !== undefined && TEMPLATE_ID.test(argument)) {
    return { kind, templateId: argument };
  }
  return null;
}
