package dev.layercache.server.http;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.lifecycle.Budget;
import dev.layercache.server.lifecycle.Collector;
import dev.layercache.server.lifecycle.Lifecycle;
import dev.layercache.server.lifecycle.StoreStatus;
import io.netty.handler.codec.http.HttpResponseStatus;

/**
 * {@code GET /api/v1/store}: the store's usage against its budget and the last lifecycle run
 * and collection. {@code POST /api/v1/gc}: a collection now; with {@code ?dry_run=true} it
 * only lists what would go.
 */
final class StoreHandler {
    private final Lifecycle lifecycle;
    private final ObjectMapper json;

    StoreHandler(Lifecycle lifecycle, ObjectMapper json) {
        this.lifecycle = lifecycle;
        this.json = json;
    }

    Response status(Request request) {
        ObjectNode out = json.createObjectNode();
        ServerConfig.Lifecycle s = lifecycle.settings();
        StoreStatus status = lifecycle.status();
        Budget inForce = status.budget();
        ObjectNode budget = out.putObject("budget");
        budget.put("max_disk_bytes", inForce.maxBytes());
        budget.put("high_watermark_bytes", inForce.highBytes());
        budget.put("low_watermark_bytes", inForce.lowBytes());
        budget.put("max_disk_size", s.maxDisk().toString());
        budget.put("min_free_disk", s.minFreeDisk().toString());
        budget.put("configured_bytes", inForce.configuredBytes());
        budget.put("file_system_bytes", inForce.fileSystemBytes());
        budget.put("free_bytes", inForce.freeBytes());
        budget.put("min_free_bytes", inForce.minFreeBytes());
        budget.put("limited_by_free_space", inForce.limitedByFreeSpace());
        budget.put("max_age_seconds", s.maxAge().toSeconds());
        budget.put("untagged_max_age_seconds", s.untaggedMaxAge().toSeconds());
        budget.put("gc_grace_seconds", s.gcGrace().toSeconds());
        budget.put("upload_timeout_seconds", s.uploadTimeout().toSeconds());
        budget.put("history_max_age_seconds", s.history().maxAge().toSeconds());
        budget.put("history_max_records", s.history().maxPerRepository());
        Lifecycle.Run run = status.lastRun();
        if (run == null) {
            out.putNull("last_run");
        } else {
            ObjectNode r = out.putObject("last_run");
            r.put("at", run.at().toString());
            r.put("uploads_expired", run.uploadsExpired());
            r.put("evicted_by_age", run.evictedByAge());
            r.put("evicted_by_budget", run.evictedByBudget());
            r.put("untagged_expired", run.untaggedExpired());
            r.put("bytes_before", run.bytesBefore());
            r.put("bytes_after", run.bytesAfter());
            r.put("budget_bytes", run.budgetBytes());
            ObjectNode pruned = r.putObject("history_pruned");
            pruned.put("tombstones", run.history().tombstones());
            pruned.put("steps", run.history().steps());
            pruned.put("access_records", run.history().accessRecords());
            pruned.put("analyses", run.history().analyses());
            pruned.put("builds", run.history().builds());
        }
        Collector.Report gc = status.lastCollection();
        if (gc == null) {
            out.putNull("last_gc");
        } else {
            out.set("last_gc", report(gc, false));
        }
        var scrub = status.lastScrub();
        if (scrub == null) {
            out.putNull("last_scrub");
        } else {
            ObjectNode sc = out.putObject("last_scrub");
            sc.put("at", scrub.at().toString());
            sc.put("blobs", scrub.blobs());
            sc.put("bytes", scrub.bytes());
            sc.put("corrupt", scrub.corrupt());
            sc.put("missing", scrub.missing());
            sc.put("millis", scrub.millis());
        }
        var check = status.startupCheck();
        if (status.startupCheckRunning()) {
            // Begun in the background at start; the node serves meanwhile (see StartupCheck).
            out.putObject("startup_check").put("running", true).put("began", status.startupCheckBegan().toString());
        } else if (check == null) {
            out.putNull("startup_check");
        } else {
            ObjectNode c = out.putObject("startup_check");
            c.put("running", false);
            c.put("began", check.at().toString());
            c.put("records", check.records());
            c.put("files", check.files());
            c.put("records_without_file", check.recordsWithoutFile());
            c.put("files_adopted", check.filesAdopted());
            c.put("files_removed", check.filesRemoved());
            c.put("millis", check.millis());
        }
        out.set("usage", json.valueToTree(lifecycle.usage()));
        var counted = status.namespaces();
        ObjectNode ns = out.putObject("namespaces");
        if (counted.at() == null) {
            ns.putNull("at");
        } else {
            ns.put("at", counted.at().toString());
        }
        var rows = ns.putArray("usage");
        counted.rows().forEach(r -> rows.addObject().put("namespace", r.namespace()).put("bytes", r.bytes())
                .put("blobs", r.blobs()).put("roots", r.roots()));
        ObjectNode p = out.putObject("protect");
        s.protect().forEach(p.putArray("patterns")::add);
        p.put("roots", counted.protect().roots());
        p.put("bytes", counted.protect().bytes());
        return Response.json(HttpResponseStatus.OK, json, out, "application/json");
    }

    Response collect(Request request) throws Exception {
        if ("bucket".equals(request.param("scope"))) {
            com.fasterxml.jackson.databind.ObjectMapper snake = json.copy().setPropertyNamingStrategy(
                    com.fasterxml.jackson.databind.PropertyNamingStrategies.SNAKE_CASE);
            return Response.json(HttpResponseStatus.OK, json, snake.valueToTree(lifecycle.collectBucket()),
                    "application/json");
        }
        boolean dryRun = "true".equalsIgnoreCase(request.param("dry_run"));
        return Response.json(HttpResponseStatus.OK, json, report(lifecycle.collect(dryRun), true),
                "application/json");
    }

    private ObjectNode report(Collector.Report gc, boolean withDigests) {
        ObjectNode g = json.createObjectNode();
        g.put("at", gc.at().toString());
        g.put("dry_run", gc.dryRun());
        g.put("blobs_scanned", gc.blobsScanned());
        g.put("referenced", gc.referenced());
        g.put("kept_in_grace", gc.keptInGrace());
        g.put("collected", gc.collected());
        g.put("collected_bytes", gc.collectedBytes());
        g.put("millis", gc.millis());
        if (withDigests) {
            gc.digests().forEach(g.putArray("digests")::add);
        }
        return g;
    }
}
