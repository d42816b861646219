package dev.layercache.server.http;

import dev.layercache.server.metrics.CacheMetrics;
import dev.layercache.server.metrics.LookupKind;
import dev.layercache.server.metrics.SavedReason;
import dev.layercache.server.metrics.Surface;
import dev.layercache.server.registry.ManifestService;
import io.netty.handler.codec.http.HttpMethod;
import java.util.List;
import java.util.Locale;

/**
 * Reads the OCI surface's lookups, bytes and latencies off completed requests, so that handlers
 * count nothing themselves: a manifest or blob {@code GET}/{@code HEAD} answered 200 (or 206) is
 * a hit, 404 a miss (README, "What counts as a lookup"); a miss on a tag the repository held and
 * lost is also a capacity miss.
 */
public final class RequestMetrics implements RequestListener {
    private static final List<HttpMethod> METHODS = List.of(HttpMethod.GET, HttpMethod.HEAD, HttpMethod.PUT,
            HttpMethod.POST, HttpMethod.PATCH, HttpMethod.DELETE);

    private final CacheMetrics metrics;
    private final ManifestService manifests;
    /** Operation labels by resource and method, built once: {@code manifest_get}, {@code blob_head}... */
    private final String[][] operations;
    private final String[] statuses = new String[600];

    public RequestMetrics(CacheMetrics metrics, ManifestService manifests) {
        this.metrics = metrics;
        this.manifests = manifests;
        Route.Resource[] resources = Route.Resource.values();
        operations = new String[resources.length][METHODS.size() + 1];
        for (Route.Resource r : resources) {
            for (int m = 0; m <= METHODS.size(); m++) {
                String method = m < METHODS.size() ? METHODS.get(m).name() : "other";
                operations[r.ordinal()][m] = (r.name() + "_" + method).toLowerCase(Locale.ROOT);
            }
        }
        for (int s = 100; s < statuses.length; s++) {
            statuses[s] = Integer.toString(s);
        }
    }

    /** A tag's 404 asks the tombstones whether the tag was removed: a metadata read, a bucket call in a cluster. */
    @Override
    public boolean mayBlock(Request request, int status) {
        HttpMethod method = request.method();
        return status == 404 && metrics.enabled() && request.route().resource() == Route.Resource.MANIFEST
                && (method.equals(HttpMethod.GET) || method.equals(HttpMethod.HEAD))
                && request.route().param().indexOf(':') < 0;
    }

    @Override
    public void onComplete(Request request, int status, long bytesReceived, long bytesSent, long declaredLength,
                           long nanos) {
        if (!metrics.enabled()) {
            return;
        }
        Route route = request.route();
        HttpMethod method = request.method();
        int m = METHODS.indexOf(method);
        metrics.request(Surface.OCI, operations[route.resource().ordinal()][m < 0 ? METHODS.size() : m],
                status >= 100 && status < 600 ? statuses[status] : Integer.toString(status), nanos);
        String repository = route.name();
        switch (route.resource()) {
            case MANIFEST -> {
                if (method.equals(HttpMethod.GET) || method.equals(HttpMethod.HEAD)) {
                    boolean byDigest = route.param().indexOf(':') >= 0;
                    CacheMetrics.NamespaceMeters ns = metrics.namespace(repository);
                    lookup(byDigest ? LookupKind.MANIFEST : LookupKind.TAG, ns, status);
                    if (status == 404 && !byDigest && manifests.tagWasRemoved(repository, route.param())) {
                        metrics.capacityMiss(Surface.OCI, LookupKind.TAG, repository);
                    }
                    if (status == 200) {
                        metrics.served(Surface.OCI, ns, bytesSent);
                    }
                } else if (method.equals(HttpMethod.PUT)) {
                    metrics.received(Surface.OCI, repository, bytesReceived);
                }
            }
            case BLOB -> {
                if (method.equals(HttpMethod.GET) || method.equals(HttpMethod.HEAD)) {
                    CacheMetrics.NamespaceMeters ns = metrics.namespace(repository);
                    lookup(LookupKind.BLOB, ns, status);
                    if (status == 200 || status == 206) {
                        metrics.served(Surface.OCI, ns, bytesSent);
                    }
                    if (status == 200 && method.equals(HttpMethod.HEAD) && declaredLength > 0) {
                        metrics.saved(Surface.OCI, SavedReason.HEAD_HIT, ns, declaredLength);
                    }
                }
            }
            case UPLOADS, UPLOAD -> metrics.received(Surface.OCI, repository, bytesReceived);
            default -> {
                // no lookups or blob bytes elsewhere
            }
        }
    }

    private void lookup(LookupKind kind, CacheMetrics.NamespaceMeters ns, int status) {
        if (status == 200 || status == 206) {
            metrics.lookup(Surface.OCI, kind, ns, true);
        } else if (status == 404) {
            metrics.lookup(Surface.OCI, kind, ns, false);
        }
    }
}
