ALTER TABLE "sources" ADD COLUMN "phash" bigint;--> statement-breakpoint
ALTER TABLE "sources" ADD COLUMN "phash_bands" integer[];--> statement-breakpoint
ALTER TABLE "sources" ADD COLUMN "near_dup_group" text;--> statement-breakpoint
CREATE INDEX "sources_phash_bands_idx" ON "sources" USING gin ("phash_bands");--> statement-breakpoint
CREATE INDEX "sources_near_dup_group_idx" ON "sources" USING btree ("near_dup_group");