package dev.layercache.server.metrics;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * What {@code GET /api/v1/stats} answers (docs/metrics.md shows the JSON): hit rates over sliding
 * windows, overall and per namespace, bytes, the store, and why entries missed; on a node that
 * mirrors upstream registries, the mirror's own ({@link #mirror}, null on other nodes).
 */
public record StatsSnapshot(
        Instant generatedAt,
        long uptimeSeconds,
        Map<String, Window> windows,
        List<NamespaceStats> namespaces,
        List<Minute> history,
        Map<String, Long> entryMisses,
        List<RootCauses.Step> rootCauses,
        StoreCensus.Totals store,
        long budgetBytes,
        List<RecentEvictions.Eviction> recentEvictions,
        Mirror mirror) {

    /**
     * Counts over one window. {@code hits} and {@code misses} are builders' lookups; a pusher's
     * existence checks ({@code existenceChecks}, of which {@code existenceCheckHits} found the
     * blob) are apart and weigh nothing in {@link #hitRate} (docs/metrics.md, "What counts as a lookup").
     */
    public record Window(long hits, long misses, long capacityMisses, long servedBytes, long receivedBytes,
                         long savedBytes, long existenceChecks, long existenceCheckHits) {
        static Window of(long[] fields) {
            return new Window(fields[Windows.Field.HITS.ordinal()], fields[Windows.Field.MISSES.ordinal()],
                    fields[Windows.Field.CAPACITY_MISSES.ordinal()], fields[Windows.Field.SERVED_BYTES.ordinal()],
                    fields[Windows.Field.RECEIVED_BYTES.ordinal()], fields[Windows.Field.SAVED_BYTES.ordinal()],
                    fields[Windows.Field.EXISTENCE_CHECKS.ordinal()],
                    fields[Windows.Field.EXISTENCE_CHECK_HITS.ordinal()]);
        }

        public long lookups() {
            return hits + misses;
        }

        /** Hits over lookups, or null without lookups. */
        public Double hitRate() {
            return lookups() == 0 ? null : hits / (double) lookups();
        }
    }

    public record NamespaceStats(String namespace, Map<String, Window> windows) {
    }

    /**
     * The pull-through mirror over one window: its lookups (a hit served the copy held here
     * without fetching), the copies served stale, the bytes served, and its requests to the
     * upstream, of which {@code upstreamErrors} failed (a 404 is an answer, not an error).
     */
    public record MirrorWindow(long hits, long misses, long stale, long servedBytes, long upstreamRequests,
                               long upstreamErrors) {
        static MirrorWindow of(long[] fields) {
            return new MirrorWindow(fields[MirrorMeters.Field.HITS.ordinal()],
                    fields[MirrorMeters.Field.MISSES.ordinal()], fields[MirrorMeters.Field.STALE.ordinal()],
                    fields[MirrorMeters.Field.SERVED_BYTES.ordinal()],
                    fields[MirrorMeters.Field.UPSTREAM_REQUESTS.ordinal()],
                    fields[MirrorMeters.Field.UPSTREAM_ERRORS.ordinal()]);
        }

        public long lookups() {
            return hits + misses;
        }

        /** Hits over lookups, or null without lookups. */
        public Double hitRate() {
            return lookups() == 0 ? null : hits / (double) lookups();
        }
    }

    /** One upstream's windows. */
    public record UpstreamStats(String upstream, Map<String, MirrorWindow> windows) {
    }

    /** The mirror's windows, all upstreams together and each (in configuration order). */
    public record Mirror(Map<String, MirrorWindow> windows, List<UpstreamStats> upstreams) {
    }

    public record Minute(Instant minute, long hits, long misses) {
    }

    public ObjectNode toJson(ObjectMapper json) {
        ObjectNode root = json.createObjectNode();
        root.put("generated_at", generatedAt.toString());
        root.put("uptime_seconds", uptimeSeconds);
        root.set("windows", windowsJson(json, windows));
        ArrayNode ns = root.putArray("namespaces");
        for (NamespaceStats n : namespaces) {
            ObjectNode o = ns.addObject();
            o.put("namespace", n.namespace());
            o.set("windows", windowsJson(json, n.windows()));
        }
        ArrayNode h = root.putArray("history");
        for (Minute m : history) {
            h.addObject().put("minute", m.minute().toString()).put("hits", m.hits()).put("misses", m.misses());
        }
        ObjectNode misses = root.putObject("entry_misses");
        entryMisses.forEach(misses::put);
        ArrayNode causes = root.putArray("root_causes");
        for (RootCauses.Step s : rootCauses) {
            causes.addObject().put("namespace", s.namespace()).put("step", s.step()).put("misses", s.misses());
        }
        ObjectNode st = root.putObject("store");
        st.put("bytes", store.bytes());
        st.put("blobs", store.blobs());
        st.put("budget_bytes", budgetBytes);
        st.putObject("roots").put("tag", store.tags()).put("manifest", store.manifests()).put("entry", store.entries());
        ArrayNode ev = root.putArray("recent_evictions");
        for (RecentEvictions.Eviction e : recentEvictions) {
            ev.addObject().put("at", e.at().toString()).put("namespace", e.namespace()).put("kind", e.kind())
                    .put("reference", e.reference()).put("bytes", e.bytes());
        }
        if (mirror != null) {
            ObjectNode m = root.putObject("mirror");
            m.set("windows", mirrorWindowsJson(json, mirror.windows()));
            ArrayNode ups = m.putArray("upstreams");
            for (UpstreamStats u : mirror.upstreams()) {
                ObjectNode o = ups.addObject();
                o.put("upstream", u.upstream());
                o.set("windows", mirrorWindowsJson(json, u.windows()));
            }
        }
        return root;
    }

    /** A window's lookups, hits, misses and hit rate ({@code null} without lookups), into {@code o}. */
    private static ObjectNode lookupsJson(ObjectNode o, long lookups, long hits, long misses, Double hitRate) {
        o.put("lookups", lookups);
        o.put("hits", hits);
        o.put("misses", misses);
        if (hitRate == null) {
            o.putNull("hit_rate");
        } else {
            o.put("hit_rate", hitRate);
        }
        return o;
    }

    private static ObjectNode mirrorWindowsJson(ObjectMapper json, Map<String, MirrorWindow> windows) {
        ObjectNode out = json.createObjectNode();
        windows.forEach((name, w) -> {
            ObjectNode o = lookupsJson(out.putObject(name), w.lookups(), w.hits(), w.misses(), w.hitRate());
            o.put("stale", w.stale());
            o.put("served_bytes", w.servedBytes());
            o.put("upstream_requests", w.upstreamRequests());
            o.put("upstream_errors", w.upstreamErrors());
        });
        return out;
    }

    private static ObjectNode windowsJson(ObjectMapper json, Map<String, Window> windows) {
        ObjectNode out = json.createObjectNode();
        windows.forEach((name, w) -> {
            ObjectNode o = lookupsJson(out.putObject(name), w.lookups(), w.hits(), w.misses(), w.hitRate());
            o.put("capacity_misses", w.capacityMisses());
            o.put("served_bytes", w.servedBytes());
            o.put("received_bytes", w.receivedBytes());
            o.put("saved_bytes", w.savedBytes());
            o.put("existence_checks", w.existenceChecks());
            o.put("existence_check_hits", w.existenceCheckHits());
        });
        return out;
    }
}
