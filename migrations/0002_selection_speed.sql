ALTER TABLE "pairs" DROP CONSTRAINT "pairs_request_id_requests_id_fk";
--> statement-breakpoint
ALTER TABLE "pairs" DROP CONSTRAINT "pairs_chosen_id_candidates_id_fk";
--> statement-breakpoint
ALTER TABLE "pairs" DROP CONSTRAINT "pairs_rejected_id_candidates_id_fk";
--> statement-breakpoint
ALTER TABLE "selections" DROP CONSTRAINT "selections_request_id_requests_id_fk";
--> statement-breakpoint
ALTER TABLE "selections" DROP CONSTRAINT "selections_candidate_id_candidates_id_fk";
--> statement-breakpoint
CREATE INDEX "checks_candidate_latest_idx" ON "checks" USING btree ("candidate_id","id" DESC NULLS FIRST,"passed");--> statement-breakpoint
CREATE INDEX "judgments_candidate_latest_idx" ON "judgments" USING btree ("candidate_id","rubric","id" DESC NULLS FIRST,"ok","passes_thresholds","scores");