CREATE TABLE "candidates" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"request_id" bigint NOT NULL,
	"seed" integer NOT NULL,
	"sha256" text NOT NULL,
	"blob" text NOT NULL,
	"width" integer NOT NULL,
	"height" integer NOT NULL,
	"generator" text NOT NULL,
	"generator_meta" jsonb,
	"latency_ms" integer NOT NULL,
	"status" text DEFAULT 'generated' NOT NULL,
	"generated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"checked_at" timestamp with time zone,
	"judged_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "checks" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"candidate_id" bigint NOT NULL,
	"rule_version" text NOT NULL,
	"face_status" text NOT NULL,
	"face_min_iou" real,
	"face_threshold" real NOT NULL,
	"face_count" integer NOT NULL,
	"faces" jsonb NOT NULL,
	"detector_version" text NOT NULL,
	"change_status" text NOT NULL,
	"changed_fraction" real NOT NULL,
	"largest_component_share" real NOT NULL,
	"change" jsonb NOT NULL,
	"passed" boolean NOT NULL,
	"latency_ms" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "export_shards" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"export_id" bigint NOT NULL,
	"path" text NOT NULL,
	"split" text NOT NULL,
	"samples" integer NOT NULL,
	"bytes" bigint NOT NULL,
	"sha256" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "exports" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"kind" text NOT NULL,
	"format" text NOT NULL,
	"out_dir" text NOT NULL,
	"params" jsonb NOT NULL,
	"status" text DEFAULT 'running' NOT NULL,
	"samples" integer DEFAULT 0 NOT NULL,
	"bytes" bigint DEFAULT 0 NOT NULL,
	"manifest_sha256" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "failures" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"stage" text NOT NULL,
	"subject" text NOT NULL,
	"request_id" bigint,
	"candidate_id" bigint,
	"attempts" integer NOT NULL,
	"error" text NOT NULL,
	"final" boolean DEFAULT true NOT NULL,
	"resolved_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "judgments" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"candidate_id" bigint NOT NULL,
	"judge_model" text NOT NULL,
	"rubric" text NOT NULL,
	"prompt_hash" text NOT NULL,
	"ok" boolean NOT NULL,
	"error" text,
	"raw_scores" jsonb,
	"scores" real[],
	"axis_instruction" real,
	"axis_preservation" real,
	"axis_quality" real,
	"aggregate" jsonb,
	"passes_thresholds" boolean,
	"raw_reply" text,
	"attempts" integer NOT NULL,
	"latency_ms" integer NOT NULL,
	"prompt_tokens" integer,
	"completion_tokens" integer,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "pairs" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"request_id" bigint NOT NULL,
	"chosen_id" bigint NOT NULL,
	"rejected_id" bigint NOT NULL,
	"rule_version" text NOT NULL,
	"rubric" text NOT NULL,
	"params" jsonb NOT NULL,
	"margins" real[] NOT NULL,
	"total_margin" double precision NOT NULL,
	"rank" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "requests" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"source_id" bigint NOT NULL,
	"instruction" text NOT NULL,
	"category" text DEFAULT '' NOT NULL,
	"candidates_wanted" integer NOT NULL,
	"model" text NOT NULL,
	"base_seed" integer NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"generated_at" timestamp with time zone,
	"settled_at" timestamp with time zone,
	"selected_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "reviews" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"candidate_id" bigint,
	"pair_id" bigint,
	"reviewer" text NOT NULL,
	"verdict" text NOT NULL,
	"note" text DEFAULT '' NOT NULL,
	"before" jsonb,
	"after" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "selections" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"request_id" bigint NOT NULL,
	"candidate_id" bigint,
	"rule_version" text NOT NULL,
	"rubric" text NOT NULL,
	"params" jsonb NOT NULL,
	"score" double precision,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sources" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"sha256" text NOT NULL,
	"blob" text NOT NULL,
	"width" integer NOT NULL,
	"height" integer NOT NULL,
	"format" text NOT NULL,
	"bytes" integer NOT NULL,
	"origin" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "sources_sha256_unique" UNIQUE("sha256")
);
--> statement-breakpoint
ALTER TABLE "candidates" ADD CONSTRAINT "candidates_request_id_requests_id_fk" FOREIGN KEY ("request_id") REFERENCES "public"."requests"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "checks" ADD CONSTRAINT "checks_candidate_id_candidates_id_fk" FOREIGN KEY ("candidate_id") REFERENCES "public"."candidates"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "export_shards" ADD CONSTRAINT "export_shards_export_id_exports_id_fk" FOREIGN KEY ("export_id") REFERENCES "public"."exports"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "failures" ADD CONSTRAINT "failures_request_id_requests_id_fk" FOREIGN KEY ("request_id") REFERENCES "public"."requests"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "failures" ADD CONSTRAINT "failures_candidate_id_candidates_id_fk" FOREIGN KEY ("candidate_id") REFERENCES "public"."candidates"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "judgments" ADD CONSTRAINT "judgments_candidate_id_candidates_id_fk" FOREIGN KEY ("candidate_id") REFERENCES "public"."candidates"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pairs" ADD CONSTRAINT "pairs_request_id_requests_id_fk" FOREIGN KEY ("request_id") REFERENCES "public"."requests"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pairs" ADD CONSTRAINT "pairs_chosen_id_candidates_id_fk" FOREIGN KEY ("chosen_id") REFERENCES "public"."candidates"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "pairs" ADD CONSTRAINT "pairs_rejected_id_candidates_id_fk" FOREIGN KEY ("rejected_id") REFERENCES "public"."candidates"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "requests" ADD CONSTRAINT "requests_source_id_sources_id_fk" FOREIGN KEY ("source_id") REFERENCES "public"."sources"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reviews" ADD CONSTRAINT "reviews_candidate_id_candidates_id_fk" FOREIGN KEY ("candidate_id") REFERENCES "public"."candidates"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "reviews" ADD CONSTRAINT "reviews_pair_id_pairs_id_fk" FOREIGN KEY ("pair_id") REFERENCES "public"."pairs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "selections" ADD CONSTRAINT "selections_request_id_requests_id_fk" FOREIGN KEY ("request_id") REFERENCES "public"."requests"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "selections" ADD CONSTRAINT "selections_candidate_id_candidates_id_fk" FOREIGN KEY ("candidate_id") REFERENCES "public"."candidates"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "candidates_request_seed_key" ON "candidates" USING btree ("request_id","seed");--> statement-breakpoint
CREATE INDEX "candidates_status_idx" ON "candidates" USING btree ("status","id");--> statement-breakpoint
CREATE UNIQUE INDEX "checks_candidate_rule_key" ON "checks" USING btree ("candidate_id","rule_version");--> statement-breakpoint
CREATE INDEX "checks_face_iou_idx" ON "checks" USING btree ("face_min_iou");--> statement-breakpoint
CREATE UNIQUE INDEX "export_shards_export_path_key" ON "export_shards" USING btree ("export_id","path");--> statement-breakpoint
CREATE UNIQUE INDEX "exports_out_dir_key" ON "exports" USING btree ("out_dir");--> statement-breakpoint
CREATE UNIQUE INDEX "failures_stage_subject_open_key" ON "failures" USING btree ("stage","subject") WHERE resolved_at IS NULL;--> statement-breakpoint
CREATE INDEX "failures_stage_idx" ON "failures" USING btree ("stage");--> statement-breakpoint
CREATE UNIQUE INDEX "judgments_candidate_rubric_model_key" ON "judgments" USING btree ("candidate_id","rubric","judge_model");--> statement-breakpoint
CREATE INDEX "judgments_rubric_idx" ON "judgments" USING btree ("rubric","candidate_id");--> statement-breakpoint
CREATE UNIQUE INDEX "pairs_chosen_rejected_rule_key" ON "pairs" USING btree ("chosen_id","rejected_id","rule_version","rubric");--> statement-breakpoint
CREATE INDEX "pairs_request_idx" ON "pairs" USING btree ("request_id");--> statement-breakpoint
CREATE UNIQUE INDEX "requests_source_instruction_model_key" ON "requests" USING btree ("source_id","instruction","model");--> statement-breakpoint
CREATE INDEX "requests_status_idx" ON "requests" USING btree ("status","id");--> statement-breakpoint
CREATE INDEX "requests_category_idx" ON "requests" USING btree ("category");--> statement-breakpoint
CREATE INDEX "requests_settled_idx" ON "requests" USING btree ("settled_at");--> statement-breakpoint
CREATE INDEX "reviews_candidate_idx" ON "reviews" USING btree ("candidate_id","id");--> statement-breakpoint
CREATE INDEX "reviews_pair_idx" ON "reviews" USING btree ("pair_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "selections_request_rule_key" ON "selections" USING btree ("request_id","rule_version","rubric");