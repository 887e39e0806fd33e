import type { CreatorProfile, Decision, Plan } from '../../shared/coach.ts';
import type { PromptMessage } from './coach-provider.ts';

/** Messages of history sent to the model (SPEC: the last 30). */
export const HISTORY_LIMIT = 30;
/** Characters of the current script sent to the model: enough to know what the video is about. */
export const SCRIPT_EXCERPT_CHARS = 2000;

/** Everything the coach knows when it answers; the offline coach reads the plan from it. */
export interface CoachContext {
  project: { id: string; title: string; topic: string };
  /** The asker's creator profile, else the project creator's; null when neither has one. */
  profile: CreatorProfile | null;
  plan: Plan | null;
  /** Decisions in force (superseded ones left out). */
  decisions: Decision[];
  scriptExcerpt: string;
  /** The last messages, oldest first, the question being answered last. */
  history: HistoryMessage[];
}

export interface HistoryMessage {
  role: 'user' | 'assistant';
  content: string;
  authorName: string | null;
  incomplete: boolean;
}

/** A short text form of the plan: phases with progress, open tasks of the current phase. */
export function summarizePlan(plan: Plan | null): string {
  if (!plan || plan.phases.length === 0) return 'No plan has been chosen yet.';
  const lines = [
    `${plan.title ?? 'Plan'}: ${plan.progress.done} of ${plan.progress.total} tasks done (${Math.round(plan.progress.ratio * 100)}%).`,
  ];
  for (const phase of plan.phases) {
    lines.push(
      `- Phase "${phase.title}": ${phase.progress.done}/${phase.progress.total} tasks done`,
    );
  }
  const current = plan.phases.find((phase) => phase.tasks.some((task) => !task.done));
  if (current) {
    const open = current.tasks.filter((task) => !task.done).map((task) => task.title);
    lines.push(`Open tasks in "${current.title}": ${open.join('; ')}`);
  }
  const undecided = plan.decisionPoints.filter((point) => point.decisionId === null);
  if (undecided.length > 0) {
    lines.push(`Still to decide: ${undecided.map((point) => point.question).join(' ')}`);
  }
  return lines.join('\n');
}

function describeProfile(profile: CreatorProfile | null): string {
  if (!profile) return 'No creator profile given.';
  const parts = [
    profile.niche ? `Niche: ${profile.niche}.` : null,
    profile.platforms.length > 0 ? `Platforms: ${profile.platforms.join(', ')}.` : null,
    profile.audienceSize !== null ? `Audience: about ${profile.audienceSize} people.` : null,
    profile.goals.length > 0 ? `Goals: ${profile.goals.join('; ')}.` : null,
    profile.budgetUsd !== null ? `Monthly budget: $${profile.budgetUsd}.` : null,
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(' ') : 'No creator profile given.';
}

/** The system prompt: role, creator, plan, decisions and the script excerpt. */
export function buildSystemPrompt(context: CoachContext): string {
  const decisions =
    context.decisions.length > 0
      ? context.decisions.map((d) => `- ${d.category}: ${d.statement} (${d.confidence})`).join('\n')
      : 'None yet.';
  return [
    'You are the Reelroom coach: a practical monetization and channel-growth coach for a small team of video creators who chat with you together in one room.',
    'Answer concisely and concretely. When the team states a decision, confirm it in one sentence starting with "You\'ve decided".',
    `Project: "${context.project.title}" — topic: ${context.project.topic}`,
    `Creator profile: ${describeProfile(context.profile)}`,
    `Plan:\n${summarizePlan(context.plan)}`,
    `Decisions so far:\n${decisions}`,
    `Current script (excerpt):\n${context.scriptExcerpt.trim() || '(empty)'}`,
  ].join('\n\n');
}

/**
 * The history as model messages: members' names prefixed (several people talk), consecutive
 * messages of one role merged, leading coach messages dropped (providers expect a user first).
 */
export function toPromptMessages(history: HistoryMessage[]): PromptMessage[] {
  const messages: PromptMessage[] = [];
  for (const message of history) {
    let content =
      message.role === 'user' && message.authorName
        ? `${message.authorName}: ${message.content}`
        : message.content;
    if (message.incomplete) content += '\n(this reply was cut off)';
    if (!content.trim()) continue;
    const last = messages.at(-1);
    if (last && last.role === message.role) last.content += `\n\n${content}`;
    else if (messages.length > 0 || message.role === 'user')
      messages.push({ role: message.role, content });
  }
  return messages;
}
