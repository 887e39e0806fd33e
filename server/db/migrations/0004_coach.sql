CREATE TYPE "public"."chat_role" AS ENUM('user', 'assistant');--> statement-breakpoint
CREATE TYPE "public"."chat_status" AS ENUM('complete', 'incomplete');--> statement-breakpoint
CREATE TYPE "public"."decision_status" AS ENUM('active', 'superseded');--> statement-breakpoint
CREATE TABLE "chat_messages" (
	"id" uuid PRIMARY KEY NOT NULL,
	"project_id" uuid NOT NULL,
	"workspace_id" uuid NOT NULL,
	"role" "chat_role" NOT NULL,
	"content" text NOT NULL,
	"user_id" uuid,
	"author_name" text,
	"status" "chat_status" NOT NULL,
	"reply_to" uuid,
	"provider" text,
	"model" text,
	"offline" boolean DEFAULT false NOT NULL,
	"input_tokens" integer,
	"output_tokens" integer,
	"cost_usd" double precision,
	"error_code" text,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "coach_decisions" (
	"id" uuid PRIMARY KEY NOT NULL,
	"project_id" uuid NOT NULL,
	"category" text NOT NULL,
	"statement" text NOT NULL,
	"confidence" text NOT NULL,
	"rationale" text NOT NULL,
	"decided_by" uuid,
	"decided_by_name" text NOT NULL,
	"source_message_id" uuid NOT NULL,
	"status" "decision_status" NOT NULL,
	"superseded_by" uuid,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "creator_profiles" (
	"user_id" uuid PRIMARY KEY NOT NULL,
	"platforms" jsonb NOT NULL,
	"audience_size" integer,
	"niche" text,
	"goals" jsonb NOT NULL,
	"budget_usd" double precision,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "chat_messages" ADD CONSTRAINT "chat_messages_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "chat_messages" ADD CONSTRAINT "chat_messages_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "coach_decisions" ADD CONSTRAINT "coach_decisions_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "creator_profiles" ADD CONSTRAINT "creator_profiles_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "chat_messages_project_created_idx" ON "chat_messages" USING btree ("project_id","created_at","id");--> statement-breakpoint
CREATE INDEX "chat_messages_user_created_idx" ON "chat_messages" USING btree ("user_id","created_at");--> statement-breakpoint
CREATE INDEX "chat_messages_created_idx" ON "chat_messages" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "chat_messages_workspace_created_idx" ON "chat_messages" USING btree ("workspace_id","created_at");--> statement-breakpoint
CREATE INDEX "coach_decisions_project_created_idx" ON "coach_decisions" USING btree ("project_id","created_at");--> statement-breakpoint
CREATE INDEX "coach_decisions_project_category_idx" ON "coach_decisions" USING btree ("project_id","category","status");