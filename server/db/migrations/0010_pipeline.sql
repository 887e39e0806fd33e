CREATE TYPE "public"."pipeline_status" AS ENUM('queued', 'running', 'completed', 'failed', 'cancelled');--> statement-breakpoint
ALTER TYPE "public"."ledger_kind" ADD VALUE 'grant';--> statement-breakpoint
ALTER TYPE "public"."asset_kind" ADD VALUE 'subtitles';--> statement-breakpoint
ALTER TYPE "public"."asset_kind" ADD VALUE 'script';--> statement-breakpoint
CREATE TABLE "pipeline_costs" (
	"id" uuid PRIMARY KEY NOT NULL,
	"run_id" uuid NOT NULL,
	"step_id" uuid,
	"project_id" uuid NOT NULL,
	"workspace_id" uuid NOT NULL,
	"step" text NOT NULL,
	"provider" text NOT NULL,
	"model" text NOT NULL,
	"units" double precision NOT NULL,
	"unit" text NOT NULL,
	"usd" double precision NOT NULL,
	"user_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "pipeline_runs" (
	"id" uuid PRIMARY KEY NOT NULL,
	"project_id" uuid NOT NULL,
	"workspace_id" uuid NOT NULL,
	"created_by" uuid,
	"status" "pipeline_status" DEFAULT 'queued' NOT NULL,
	"steps" jsonb NOT NULL,
	"publish" jsonb,
	"error" jsonb,
	"idempotency_key" text,
	"cost_usd" double precision DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "pipeline_steps" (
	"id" uuid PRIMARY KEY NOT NULL,
	"run_id" uuid NOT NULL,
	"name" text NOT NULL,
	"position" integer NOT NULL,
	"status" "pipeline_status" DEFAULT 'queued' NOT NULL,
	"round" integer DEFAULT 1 NOT NULL,
	"attempt" integer DEFAULT 0 NOT NULL,
	"progress" real DEFAULT 0 NOT NULL,
	"error" jsonb,
	"cost_usd" double precision DEFAULT 0 NOT NULL,
	"credits" integer DEFAULT 0 NOT NULL,
	"artifacts" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "assets" ADD COLUMN "source" text;--> statement-breakpoint
ALTER TABLE "assets" ADD COLUMN "cache_key" text;--> statement-breakpoint
ALTER TABLE "assets" ADD COLUMN "meta" jsonb;--> statement-breakpoint
ALTER TABLE "pipeline_costs" ADD CONSTRAINT "pipeline_costs_run_id_pipeline_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."pipeline_runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pipeline_costs" ADD CONSTRAINT "pipeline_costs_step_id_pipeline_steps_id_fk" FOREIGN KEY ("step_id") REFERENCES "public"."pipeline_steps"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pipeline_costs" ADD CONSTRAINT "pipeline_costs_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pipeline_costs" ADD CONSTRAINT "pipeline_costs_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pipeline_costs" ADD CONSTRAINT "pipeline_costs_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pipeline_runs" ADD CONSTRAINT "pipeline_runs_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pipeline_runs" ADD CONSTRAINT "pipeline_runs_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pipeline_runs" ADD CONSTRAINT "pipeline_runs_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pipeline_steps" ADD CONSTRAINT "pipeline_steps_run_id_pipeline_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."pipeline_runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "pipeline_costs_project_idx" ON "pipeline_costs" USING btree ("project_id","created_at");--> statement-breakpoint
CREATE INDEX "pipeline_costs_workspace_idx" ON "pipeline_costs" USING btree ("workspace_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "pipeline_runs_project_idempotency_idx" ON "pipeline_runs" USING btree ("project_id","idempotency_key");--> statement-breakpoint
CREATE INDEX "pipeline_runs_project_created_idx" ON "pipeline_runs" USING btree ("project_id","created_at","id");--> statement-breakpoint
CREATE UNIQUE INDEX "pipeline_steps_run_position_idx" ON "pipeline_steps" USING btree ("run_id","position");--> statement-breakpoint
CREATE INDEX "pipeline_steps_status_idx" ON "pipeline_steps" USING btree ("status");--> statement-breakpoint
CREATE INDEX "assets_project_cache_key_idx" ON "assets" USING btree ("project_id","cache_key");