DROP INDEX "judgments_candidate_rubric_model_key";--> statement-breakpoint
DROP INDEX "judgments_candidate_latest_idx";--> statement-breakpoint
DROP INDEX "pairs_chosen_rejected_rule_key";--> statement-breakpoint
DROP INDEX "selections_request_rule_key";--> statement-breakpoint
ALTER TABLE "judgments" ADD COLUMN "superseded_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "pairs" ADD COLUMN "judge_model" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "pairs" ADD COLUMN "prompt_hash" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "selections" ADD COLUMN "judge_model" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "selections" ADD COLUMN "prompt_hash" text DEFAULT '' NOT NULL;--> statement-breakpoint
CREATE INDEX "checks_candidate_version_idx" ON "checks" USING btree ("candidate_id","rule_version","passed");--> statement-breakpoint
CREATE UNIQUE INDEX "judgments_candidate_version_key" ON "judgments" USING btree ("candidate_id","rubric","judge_model","prompt_hash") WHERE superseded_at IS NULL;--> statement-breakpoint
CREATE INDEX "judgments_candidate_version_idx" ON "judgments" USING btree ("candidate_id","rubric","judge_model","prompt_hash","id" DESC NULLS FIRST,"ok","scores");--> statement-breakpoint
CREATE UNIQUE INDEX "pairs_chosen_rejected_version_key" ON "pairs" USING btree ("chosen_id","rejected_id","rule_version","rubric","judge_model","prompt_hash");--> statement-breakpoint
CREATE UNIQUE INDEX "selections_request_version_key" ON "selections" USING btree ("request_id","rule_version","rubric","judge_model","prompt_hash");--> statement-breakpoint
-- hand-written
-- Selections and pairs made before judge versions name the version of the judgments they read:
-- the picked (chosen) candidate's newest ok judgment of the rubric; a request with no pick
-- takes the newest ok judgment of the rubric among its candidates.
UPDATE "selections" s SET ("judge_model", "prompt_hash") = (
  SELECT jj.judge_model, jj.prompt_hash FROM "judgments" jj JOIN "candidates" c ON c.id = jj.candidate_id
  WHERE c.request_id = s.request_id AND jj.rubric = s.rubric AND jj.ok
  ORDER BY (jj.candidate_id = s.candidate_id) DESC NULLS LAST, jj.id DESC LIMIT 1)
WHERE s.judge_model = '' AND EXISTS (
  SELECT 1 FROM "judgments" jj JOIN "candidates" c ON c.id = jj.candidate_id
  WHERE c.request_id = s.request_id AND jj.rubric = s.rubric AND jj.ok);--> statement-breakpoint
UPDATE "pairs" p SET ("judge_model", "prompt_hash") = (
  SELECT jj.judge_model, jj.prompt_hash FROM "judgments" jj
  WHERE jj.candidate_id = p.chosen_id AND jj.rubric = p.rubric AND jj.ok ORDER BY jj.id DESC LIMIT 1)
WHERE p.judge_model = '' AND EXISTS (
  SELECT 1 FROM "judgments" jj WHERE jj.candidate_id = p.chosen_id AND jj.rubric = p.rubric AND jj.ok);--> statement-breakpoint
-- A selection row with no judgment in its request (nothing was judged) takes the judge version
-- of the newest judgment of its rubric.
UPDATE "selections" s SET ("judge_model", "prompt_hash") = (
  SELECT jj.judge_model, jj.prompt_hash FROM "judgments" jj WHERE jj.rubric = s.rubric ORDER BY jj.id DESC LIMIT 1)
WHERE s.judge_model = '' AND EXISTS (SELECT 1 FROM "judgments" jj WHERE jj.rubric = s.rubric);--> statement-breakpoint
-- Checks name their full check version (pipeline/checks.ts checkVersion): the rules with the
-- detector version and thresholds they ran with, all of which the row already records.
UPDATE "checks" SET "rule_version" =
  'face-iou-hungarian-v1(detector=' || detector_version || ',iou=' || face_threshold::text || ')'
  || '+change-map-4conn-v1(px=' || ("change"->>'pixelThreshold') || ',noChange=' || ("change"->>'noChangeFraction')
  || ',minRegion=' || ("change"->>'minRegionFraction') || ')'
WHERE rule_version = 'face-iou-hungarian-v1+change-map-4conn-v1';
