import { setTimeout as sleep } from 'node:timers/promises';
import type { PlanTemplate } from '../../shared/coach.ts';
import { coachActionHref } from '../../shared/coach-actions.ts';
import type { CoachContext } from './coach-context.ts';
import type { CoachProvider, CompletionRequest, CompletionResult } from './coach-provider.ts';
import { PlanTemplates } from './plan-templates.ts';

/** First line of every offline reply, so nobody mistakes it for an AI answer. */
export const OFFLINE_NOTICE =
  '[Offline coach] No AI provider is configured, so this answer comes from your plan, not from an AI model.';

/** The plan templates an offline reply may offer: id, title and summary. */
export type TemplateChoice = Pick<PlanTemplate, 'id' | 'title' | 'summary'>;

export interface OfflineProviderOptions {
  /**
   * Pause between two words of a reply, in ms. Default 15: the reply streams at a pace a
   * person sees (about 60 words a second), as a model's would, instead of arriving as one
   * `chat:token` (the delta batcher merges deltas handed over in one event-loop turn). 0 sends
   * every word at once.
   */
  wordDelayMs?: number;
  /** The templates a project without a plan is offered. Default the stored ones. */
  templates?: TemplateChoice[];
}

/**
 * The coach without an LLM key: answers from the project's plan (open tasks, decisions so far,
 * next steps) in the web app's terms, with suggestions the member can click (start a template,
 * make the video). Streamed word by word like a model's reply so clients need no special path;
 * costs nothing.
 */
export class OfflineProvider implements CoachProvider {
  readonly name = 'offline' as const;
  readonly model = 'offline';
  readonly fallbackModel = undefined;
  readonly #wordDelayMs: number;
  #templates: TemplateChoice[] | undefined;

  constructor(options: OfflineProviderOptions = {}) {
    this.#wordDelayMs = options.wordDelayMs ?? 15;
    if (!Number.isFinite(this.#wordDelayMs) || this.#wordDelayMs < 0) {
      throw new Error('OfflineProvider: wordDelayMs must be >= 0');
    }
    this.#templates = options.templates;
  }

  async stream(
    request: CompletionRequest,
    onDelta: (text: string) => void,
  ): Promise<CompletionResult> {
    // Read on first use, not at start-up: most nodes with a key never answer offline.
    this.#templates ??= PlanTemplates.load().list();
    const templates = this.#templates;
    const text = offlineReply(request.context, templates);
    const pieces = text.match(/\S+\s*|\s+/g) ?? [];
    for (const [index, piece] of pieces.entries()) {
      if (index > 0 && this.#wordDelayMs > 0) {
        // An aborted reply (shutdown, another node took over) stops here; the caller drops it.
        await sleep(this.#wordDelayMs, undefined, { signal: request.signal }).catch(() => {});
      }
      if (request.signal?.aborted) break;
      onDelta(piece);
    }
    return { model: this.model, usage: { inputTokens: 0, outputTokens: 0 } };
  }
}

/**
 * The offline reply for a context, as Markdown. It speaks of the page (the Plan panel, the
 * Script editor, Make video), never of REST routes: the people reading it use the web app.
 */
export function offlineReply(
  context: CoachContext | undefined,
  templates: TemplateChoice[] = [],
): string {
  const lines = [OFFLINE_NOTICE, ''];
  const plan = context?.plan;
  if (!plan || plan.phases.length === 0) {
    lines.push(
      'This project has no plan yet. Pick a template in the **Plan** panel to get phases, tasks, estimates and next steps.',
    );
    if (templates.length > 0) {
      lines.push('', 'Or start one from here:');
      for (const template of templates) {
        const href = coachActionHref({ kind: 'start-template', templateId: template.id });
        lines.push(`- [Start "${template.title}"](${href}): ${template.summary}`);
      }
    }
  } else {
    const percent = Math.round(plan.progress.ratio * 100);
    lines.push(
      `Plan: ${plan.title ?? plan.templateId}. ${plan.progress.done} of ${plan.progress.total} tasks done (${percent}%), ${plan.progress.hoursTotal - plan.progress.hoursDone} estimated hours left.`,
    );
    const open = plan.phases.flatMap((phase) =>
      phase.tasks.filter((task) => !task.done).map((task) => ({ phase: phase.title, task })),
    );
    if (open.length === 0) {
      lines.push('Every task is done. Time to review the numbers and pick the next plan.');
    } else {
      lines.push('', `Next steps (${open[0]!.phase}):`);
      for (const { task } of open.slice(0, 3)) {
        lines.push(`- ${task.title} (about ${task.estimateHours} h): ${task.description}`);
      }
      lines.push(`Open tasks in all: ${open.length}. Tick them off in the **Plan** panel.`);
    }
    const undecided = plan.decisionPoints.filter((point) => point.decisionId === null);
    if (undecided.length > 0) {
      lines.push('', 'Still to decide (say it here in the chat and I note it in the plan):');
      for (const point of undecided) lines.push(`- ${point.question}`);
    }
    if (plan.tips.length > 0) {
      const tip = plan.tips[plan.progress.done % plan.tips.length];
      lines.push('', `Tip: ${tip}`);
    }
  }
  const decisions = context?.decisions ?? [];
  lines.push('', decisions.length > 0 ? 'Decisions so far:' : 'No decisions recorded yet.');
  for (const decision of decisions) {
    lines.push(`- ${decision.category}: ${decision.statement} (${decision.confidence})`);
  }
  lines.push('', videoSuggestion(context?.scriptExcerpt ?? ''));
  return lines.join('\n');
}

/** The next step for the video itself: write the script, or make the video from it. */
function videoSuggestion(script: string): string {
  const make = `[Make the video](${coachActionHref({ kind: 'make-video' })})`;
  if (!script.trim()) {
    return `The script is still empty. Write it in the **Script** editor (a line with only \`---\` starts a new scene, \`# \` gives a scene its title), or ${make} and a first draft is written for you.`;
  }
  return `When the script reads well, ${make}: voice-over, thumbnail and render, with each step's progress in the **Pipeline** panel.`;
}
