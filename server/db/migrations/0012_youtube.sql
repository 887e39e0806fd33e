CREATE TABLE "youtube_channels" (
	"id" uuid PRIMARY KEY NOT NULL,
	"workspace_id" uuid NOT NULL,
	"youtube_channel_id" text NOT NULL,
	"title" text NOT NULL,
	"client_id" text NOT NULL,
	"refresh_token_ciphertext" text NOT NULL,
	"token_key_id" text NOT NULL,
	"connected_by" uuid,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "youtube_oauth_states" (
	"state_hash" text PRIMARY KEY NOT NULL,
	"user_id" uuid NOT NULL,
	"workspace_id" uuid NOT NULL,
	"client_id" text NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "youtube_quota_usage" (
	"client_id" text NOT NULL,
	"day" text NOT NULL,
	"used_units" integer DEFAULT 0 NOT NULL,
	"uploads_used" integer DEFAULT 0 NOT NULL,
	"exhausted_until" timestamp with time zone,
	CONSTRAINT "youtube_quota_usage_client_id_day_pk" PRIMARY KEY("client_id","day")
);
--> statement-breakpoint
CREATE TABLE "youtube_upload_sessions" (
	"step_key" text PRIMARY KEY NOT NULL,
	"channel_id" uuid NOT NULL,
	"session_uri" text NOT NULL,
	"total_bytes" integer NOT NULL,
	"youtube_video_id" text,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "youtube_channels" ADD CONSTRAINT "youtube_channels_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "youtube_channels" ADD CONSTRAINT "youtube_channels_connected_by_users_id_fk" FOREIGN KEY ("connected_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "youtube_oauth_states" ADD CONSTRAINT "youtube_oauth_states_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "youtube_oauth_states" ADD CONSTRAINT "youtube_oauth_states_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "youtube_upload_sessions" ADD CONSTRAINT "youtube_upload_sessions_channel_id_youtube_channels_id_fk" FOREIGN KEY ("channel_id") REFERENCES "public"."youtube_channels"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "youtube_channels_workspace_channel_idx" ON "youtube_channels" USING btree ("workspace_id","youtube_channel_id");--> statement-breakpoint
CREATE INDEX "youtube_upload_sessions_channel_idx" ON "youtube_upload_sessions" USING btree ("channel_id");