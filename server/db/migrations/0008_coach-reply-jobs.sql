-- Coach replies are durable jobs (server/coach): a reply is stored 'pending' with its question,
-- its job's delivery fences its writes (attempt), and the reply sweep finds the pending ones.
-- The new enum value is not used in this transaction (Postgres refuses that).
ALTER TYPE "public"."chat_status" ADD VALUE 'pending';--> statement-breakpoint
ALTER TABLE "chat_messages" ADD COLUMN "attempt" integer;--> statement-breakpoint
CREATE INDEX "chat_messages_status_project_created_idx" ON "chat_messages" USING btree ("status","project_id","created_at");