import type { CoachContext } from './coach-context.ts';
import type { CoachProvider, CompletionRequest, CompletionResult } from './coach-provider.ts';

/** First line of every offline reply, so nobody mistakes it for an AI answer. */
export const OFFLINE_NOTICE =
  '[Offline coach] No AI provider is configured, so this answer comes from your plan, not from an AI model.';

/**
 * The coach without an LLM key: answers from the project's plan (open tasks, decisions so far,
 * next steps). Streamed word by word like a model's reply so clients need no special path;
 * costs nothing.
 */
export class OfflineProvider implements CoachProvider {
  readonly name = 'offline' as const;
  readonly model = 'offline';
  readonly fallbackModel = undefined;

  async stream(
    request: CompletionRequest,
    onDelta: (text: string) => void,
  ): Promise<CompletionResult> {
    const text = offlineReply(request.context);
    for (const piece of text.match(/\S+\s*|\s+/g) ?? []) onDelta(piece);
    return { model: this.model, usage: { inputTokens: 0, outputTokens: 0 } };
  }
}

/** The offline reply for a context. */
export function offlineReply(context: CoachContext | undefined): string {
  const lines = [OFFLINE_NOTICE, ''];
  const plan = context?.plan;
  if (!plan || plan.phases.length === 0) {
    lines.push(
      'This project has no plan yet. Pick one with POST /projects/{id}/plan and {"templateId": "premium-community"} to get phases, tasks, estimates and next steps.',
    );
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
      lines.push(`Open tasks in all: ${open.length}.`);
    }
    const undecided = plan.decisionPoints.filter((point) => point.decisionId === null);
    if (undecided.length > 0) {
      lines.push('', 'Still to decide:');
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
  return lines.join('\n');
}
