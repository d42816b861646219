package dev.layercache.server.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.layercache.server.metrics.CacheMetrics;
import dev.layercache.server.metrics.StatsSnapshot;
import dev.layercache.server.testing.PrometheusText;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The OCI surface's recorder, below HTTP: a completed request in (method, path, status, bytes),
 * the right meters move (a real registry). docs/metrics.md's "What counts as a lookup" as a table.
 */
class RequestMetricsTest {
    private static final String BLOB = "/v2/team/app/blobs/sha256:" + "a".repeat(64);

    private final CacheMetrics metrics = CacheMetrics.create(1, 100, Clock.systemUTC());
    /** The tags asked whether they were removed, as repository:tag; team/app:gone was. */
    private final List<String> asked = new ArrayList<>();
    private final RequestMetrics recorder = new RequestMetrics(metrics, (repository, tag) -> {
        asked.add(repository + ":" + tag);
        return repository.equals("team/app") && tag.equals("gone");
    });

    @AfterEach
    void close() {
        metrics.close();
    }

    @Test
    void aTagOrManifestAnswered200IsAHitAndItsBodyServed() {
        complete(HttpMethod.GET, "/v2/team/app/manifests/v1", 200, 0, 500, 0);
        complete(HttpMethod.HEAD, "/v2/team/app/manifests/sha256:" + "b".repeat(64), 200, 0, 0, 500);

        PrometheusText p = scrape();
        assertEquals(1, p.value("layercache_lookups_total", "surface", "oci", "kind", "tag", "result", "hit"));
        assertEquals(1, p.value("layercache_lookups_total", "surface", "oci", "kind", "manifest", "result", "hit"));
        assertEquals(500, p.value("layercache_served_bytes_total", "surface", "oci"));
        assertEquals(0, p.value("layercache_saved_bytes_total"), "only a blob's HEAD saves an upload");
        assertEquals(0, p.value("layercache_existence_checks_total"), "a manifest's HEAD is a lookup (containerd resolves with it)");
        assertEquals(2, p.value("layercache_request_duration_seconds_count", "surface", "oci"));
    }

    @Test
    void aBlobGetIsALookupThatHitsOn200Or206() {
        complete(HttpMethod.GET, BLOB, 206, 0, 100, 0);
        complete(HttpMethod.GET, BLOB, 200, 0, 400, 0);

        PrometheusText p = scrape();
        assertEquals(2, p.value("layercache_lookups_total", "surface", "oci", "kind", "blob", "result", "hit"));
        assertEquals(500, p.value("layercache_served_bytes_total", "surface", "oci"));
        assertEquals(0, p.value("layercache_existence_checks_total"));
        assertEquals(2, window().hits());
        assertEquals(0, window().existenceChecks());
    }

    @Test
    void aBlobHeadIsAnExistenceCheckNotALookupAndItsHitSavesAnUpload() {
        complete(HttpMethod.HEAD, BLOB, 200, 0, 0, 4096);
        complete(HttpMethod.HEAD, "/v2/team/app/blobs/sha256:" + "d".repeat(64), 404, 0, 0, 0);
        complete(HttpMethod.HEAD, BLOB, 500, 0, 0, 0); // neither answer: nothing

        PrometheusText p = scrape();
        assertEquals(0, p.value("layercache_lookups_total"), "a pusher's HEAD is no lookup");
        assertEquals(0, p.value("layercache_namespace_lookups_total"));
        assertEquals(1, p.value("layercache_existence_checks_total", "surface", "oci", "result", "hit"));
        assertEquals(1, p.value("layercache_existence_checks_total", "surface", "oci", "result", "miss"));
        assertEquals(1, p.value("layercache_namespace_existence_checks_total", "namespace", "team", "surface", "oci",
                "result", "hit"));
        assertEquals(1, p.value("layercache_namespace_existence_checks_total", "namespace", "team", "surface", "oci",
                "result", "miss"), "team exists (the hit named it): its misses count under its label");
        assertEquals(4096, p.value("layercache_saved_bytes_total", "surface", "oci", "reason", "head_hit"));
        StatsSnapshot.Window w = window();
        assertEquals(4096, w.savedBytes());
        assertEquals(2, w.existenceChecks());
        assertEquals(1, w.existenceCheckHits());
        assertEquals(0, w.lookups());
        assertNull(w.hitRate(), "no lookups: no hit rate, whatever the checks found");
    }

    /**
     * What docker, buildah, skopeo and BuildKit send to push a new layer and then a manifest:
     * HEAD (404), POST, PATCH, PUT, HEAD again (200, as a second push of the same layer would),
     * PUT the manifest. Not one lookup, so a push-only workflow leaves the hit rate alone.
     */
    @Test
    void aPushOfANewLayerCountsExistenceChecksAndNoLookup() {
        complete(HttpMethod.HEAD, BLOB, 404, 0, 0, 0);
        complete(HttpMethod.POST, "/v2/team/app/blobs/uploads/", 202, 0, 0, 0);
        complete(HttpMethod.PATCH, "/v2/team/app/blobs/uploads/u1", 202, 4096, 0, 0);
        complete(HttpMethod.PUT, "/v2/team/app/blobs/uploads/u1", 201, 0, 0, 0);
        complete(HttpMethod.HEAD, BLOB, 200, 0, 0, 4096);
        complete(HttpMethod.PUT, "/v2/team/app/manifests/v1", 201, 500, 0, 0);

        PrometheusText p = scrape();
        assertEquals(0, p.value("layercache_lookups_total"));
        assertEquals(0, p.value("layercache_lookups_total", "result", "miss"), "no blob miss for a push");
        assertEquals(1, p.value("layercache_existence_checks_total", "result", "miss"));
        assertEquals(1, p.value("layercache_existence_checks_total", "result", "hit"));
        assertEquals(4596, p.value("layercache_received_bytes_total", "surface", "oci"));
        assertEquals(0, window().misses());
        assertEquals(2, window().existenceChecks());
    }

    @Test
    void a404IsAMissAndALostTagACapacityMissToo() {
        complete(HttpMethod.GET, "/v2/team/app/manifests/never", 404, 0, 0, 0);
        complete(HttpMethod.GET, "/v2/team/app/manifests/gone", 404, 0, 0, 0);
        complete(HttpMethod.GET, BLOB, 404, 0, 0, 0);

        PrometheusText p = scrape();
        assertEquals(2, p.value("layercache_lookups_total", "surface", "oci", "kind", "tag", "result", "miss"));
        assertEquals(1, p.value("layercache_lookups_total", "surface", "oci", "kind", "blob", "result", "miss"));
        assertEquals(1, p.value("layercache_capacity_misses_total", "surface", "oci", "kind", "tag"));
        assertEquals(1, p.value("layercache_namespace_lookups_total", "namespace", "team", "kind", "tag",
                "result", "miss"), "the repository held the tag: its namespace exists");
        assertEquals(1, window().capacityMisses());
        assertEquals(List.of("team/app:never", "team/app:gone"), asked);
    }

    @Test
    void refusedRequestsAndOtherStatusesAreNoLookups() {
        for (int status : new int[] {401, 403, 429, 400, 500}) {
            complete(HttpMethod.GET, "/v2/team/app/manifests/gone", status, 0, 0, 0);
        }
        complete(HttpMethod.GET, "/v2/team/app/manifests/v1", 206, 0, 10, 0); // a manifest has no range
        complete(HttpMethod.GET, "/v2/Not_A_Name/manifests/gone", 404, 0, 0, 0);

        PrometheusText p = scrape();
        assertEquals(0, p.value("layercache_lookups_total"));
        assertEquals(0, p.value("layercache_capacity_misses_total"));
        assertEquals(7, p.value("layercache_request_duration_seconds_count", "surface", "oci"));
        assertEquals(List.of(), asked, "the tombstones are read for a valid name's 404 only");
    }

    @Test
    void pushedBytesAreReceived() {
        complete(HttpMethod.PUT, "/v2/team/app/manifests/v1", 201, 300, 0, 0);
        complete(HttpMethod.PATCH, "/v2/team/app/blobs/uploads/u1", 202, 700, 0, 0);

        assertEquals(1000, scrape().value("layercache_received_bytes_total", "surface", "oci"));
        assertEquals(1000, window().receivedBytes());
    }

    @Test
    void aMountTheHandlerNamedSavesItsBlobAndAFallBackToAnUploadSavesNothing() {
        String mount = "/v2/team/app/blobs/uploads/?mount=sha256:" + "c".repeat(64) + "&from=team/base";
        Request mounted = new Request(HttpMethod.POST, Route.of("/v2/team/app/blobs/uploads/"),
                new DefaultHttpHeaders(), new QueryStringDecoder(mount));
        mounted.mounted(7000);
        recorder.onComplete(mounted, 201, 0, 0, 0, 1_000_000);
        // Not visible to mount: the same request answered 202 with a new session, nothing mounted.
        complete(HttpMethod.POST, mount, 202, 0, 0, 0);

        PrometheusText p = scrape();
        assertEquals(7000, p.value("layercache_saved_bytes_total", "surface", "oci", "reason", "mount"));
        assertEquals(7000, window().savedBytes());
    }

    private void complete(HttpMethod method, String path, int status, long received, long sent, long declared) {
        Request request = new Request(method, Route.of(path), new DefaultHttpHeaders(), new QueryStringDecoder(path));
        recorder.onComplete(request, status, received, sent, declared, 1_000_000);
    }

    private PrometheusText scrape() {
        return new PrometheusText(metrics.scrape(null));
    }

    private StatsSnapshot.Window window() {
        return metrics.snapshot().windows().get("5m");
    }
}
