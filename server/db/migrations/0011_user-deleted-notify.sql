-- Every node caches which users exist (access tokens are checked against it); a deleted user,
-- however deleted, is announced on this channel after the deleting transaction commits, and
-- each node forgets the user at once (server/auth/account-service.ts).
CREATE FUNCTION "notify_user_deleted"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('reelroom_user_deleted', OLD."id"::text);
	RETURN OLD;
END;
$$;--> statement-breakpoint
CREATE TRIGGER "users_notify_deleted" AFTER DELETE ON "users" FOR EACH ROW EXECUTE FUNCTION "notify_user_deleted"();
