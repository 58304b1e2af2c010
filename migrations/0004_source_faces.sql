CREATE TABLE "source_faces" (
	"source_id" bigint NOT NULL,
	"detector_version" text NOT NULL,
	"faces" jsonb NOT NULL,
	"uncertain_face" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "source_faces_source_id_detector_version_pk" PRIMARY KEY("source_id","detector_version")
);
--> statement-breakpoint
ALTER TABLE "source_faces" ADD CONSTRAINT "source_faces_source_id_sources_id_fk" FOREIGN KEY ("source_id") REFERENCES "public"."sources"("id") ON DELETE no action ON UPDATE no action;