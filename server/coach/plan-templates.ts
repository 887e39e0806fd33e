import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type PlanTemplate, planTemplateSchema } from '../../shared/coach.ts';

const DEFAULT_DIRECTORY = fileURLToPath(new URL('./templates', import.meta.url));

/**
 * Plan templates, kept as JSON files (`server/coach/templates/*.json`) so that adding a plan is
 * a data change. Every file is validated at start-up; a bad one stops the node with its name.
 */
export class PlanTemplates {
  readonly #templates: Map<string, PlanTemplate>;

  constructor(templates: PlanTemplate[]) {
    this.#templates = new Map(templates.map((template) => [template.id, template]));
  }

  static load(directory: string = DEFAULT_DIRECTORY): PlanTemplates {
    const templates = readdirSync(directory)
      .filter((file) => file.endsWith('.json'))
      .sort()
      .map((file) => {
        const parsed = planTemplateSchema.safeParse(
          JSON.parse(readFileSync(path.join(directory, file), 'utf8')),
        );
        if (!parsed.success) {
          throw new Error(`plan template ${file}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
        }
        const taskIds = new Set(parsed.data.phases.flatMap((p) => p.tasks.map((t) => t.id)));
        for (const point of parsed.data.decisionPoints) {
          if (!taskIds.has(point.taskId)) {
            throw new Error(`plan template ${file}: decision point ${point.id} names no task`);
          }
        }
        return parsed.data;
      });
    return new PlanTemplates(templates);
  }

  get(id: string): PlanTemplate | undefined {
    return this.#templates.get(id);
  }

  list(): PlanTemplate[] {
    return [...this.#templates.values()];
  }
}
