CREATE TABLE "browser_faces" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"image_kind" text NOT NULL,
	"image_id" bigint NOT NULL,
	"model" text NOT NULL,
	"model_version" text NOT NULL,
	"faces" jsonb NOT NULL,
	"face_count" integer NOT NULL,
	"server_face_count" integer NOT NULL,
	"disagrees" boolean NOT NULL,
	"comparison" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "checks" ADD COLUMN "artifact_status" text;--> statement-breakpoint
ALTER TABLE "checks" ADD COLUMN "artifact" jsonb;--> statement-breakpoint
CREATE UNIQUE INDEX "browser_faces_image_model_key" ON "browser_faces" USING btree ("image_kind","image_id","model_version");--> statement-breakpoint
CREATE INDEX "browser_faces_disagrees_idx" ON "browser_faces" USING btree ("image_kind","image_id") WHERE disagrees;