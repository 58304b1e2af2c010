ALTER TABLE "checks" ADD COLUMN "artifact_status" text;--> statement-breakpoint
ALTER TABLE "checks" ADD COLUMN "artifact" jsonb;