package dev.layercache.server.http;

import dev.layercache.server.core.LookupOutcome;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.metrics.CacheMetrics;
import dev.layercache.server.metrics.LookupKind;
import dev.layercache.server.metrics.NamespaceMeters;
import dev.layercache.server.metrics.SavedReason;
import dev.layercache.server.metrics.Surface;
import dev.layercache.server.registry.ManifestService;
import io.netty.handler.codec.http.HttpMethod;
import java.util.List;
import java.util.Locale;
import java.util.function.BiPredicate;

/**
 * The OCI surface's recorder: reads lookups, bytes and latencies off completed requests, so that
 * handlers count no lookup themselves (as {@code grpc.GrpcMetrics} does for the gRPC surface,
 * from the domain's outcomes): a manifest {@code GET}/{@code HEAD} or a blob {@code GET} answered
 * 200 (or 206) is a hit, 404 a miss; a blob {@code HEAD} is a pusher's existence check, counted
 * apart (docs/metrics.md, "What counts as a lookup"); a miss on a tag the repository held and
 * lost is also a capacity miss; a mount's blob, which the handler names on the request
 * ({@link Request#mountedBytes}), is bytes the client need not send. Requests refused with 401,
 * 403 or 429 count only in the latency histogram, and a miss in a repository that may not exist
 * takes no namespace label of its own (see {@link CacheMetrics#missedNamespace}). A request that
 * asked the pull-through mirror ({@link Request#mirroredFrom}) is no lookup of the build cache:
 * the mirror counted its lookup, and here only its latency and the bytes it served are counted.
 */
public final class RequestMetrics implements RequestListener {
    private static final List<HttpMethod> METHODS = List.of(HttpMethod.GET, HttpMethod.HEAD, HttpMethod.PUT,
            HttpMethod.POST, HttpMethod.PATCH, HttpMethod.DELETE);

    private final CacheMetrics metrics;
    /** Whether a tag of a repository (both raw path parts) named a manifest that was removed since. */
    private final BiPredicate<String, String> tagWasRemoved;
    /** Operation labels by resource and method, built once: {@code manifest_get}, {@code blob_head}... */
    private final String[][] operations;
    private final String[] statuses = new String[600];

    public RequestMetrics(CacheMetrics metrics, ManifestService manifests) {
        this(metrics, manifests::tagWasRemoved);
    }

    RequestMetrics(CacheMetrics metrics, BiPredicate<String, String> tagWasRemoved) {
        this.metrics = metrics;
        this.tagWasRemoved = tagWasRemoved;
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

    /**
     * Lookups and existence checks answered 404: what their counting reads may be a metadata
     * read, a bucket call in a cluster.
     */
    @Override
    public boolean mayBlock(Request request, int status) {
        HttpMethod method = request.method();
        // A tag's 404 asks the tombstones; any other 404 may ask whether its namespace holds
        // repositories (a miss takes a namespace slot only then): both read the metadata store.
        Route.Resource resource = request.route().resource();
        return status == 404 && metrics.enabled()
                && (resource == Route.Resource.MANIFEST || resource == Route.Resource.BLOB)
                && (method.equals(HttpMethod.GET) || method.equals(HttpMethod.HEAD));
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
        if (status == 401 || status == 403 || status == 429) {
            // Refused (access control, rate limits): no lookup, and its repository is nobody's
            // namespace here, or anyone could fill the namespace slots by asking (issue 18).
            return;
        }
        String repository = route.name();
        boolean reading = method.equals(HttpMethod.GET) || method.equals(HttpMethod.HEAD);
        String upstream = request.mirroredFrom();
        if (upstream != null) {
            if (reading && (status == 200 || status == 206)) {
                metrics.mirrorServed(upstream, bytesSent);
            }
            return;
        }
        switch (route.resource()) {
            case MANIFEST -> {
                if (reading) {
                    LookupKind kind = route.param().indexOf(':') >= 0 ? LookupKind.MANIFEST : LookupKind.TAG;
                    lookup(kind, repository, outcome(kind, route, status), bytesSent);
                } else if (method.equals(HttpMethod.PUT)) {
                    received(repository, status, bytesReceived);
                }
            }
            case BLOB -> {
                if (method.equals(HttpMethod.HEAD)) {
                    existenceCheck(repository, status, declaredLength);
                } else if (reading) {
                    lookup(LookupKind.BLOB, repository, outcome(LookupKind.BLOB, route, status), bytesSent);
                }
            }
            case UPLOADS -> {
                received(repository, status, bytesReceived);
                long mounted = request.mountedBytes();
                if (status == 201 && mounted > 0) {
                    metrics.saved(Surface.OCI, SavedReason.MOUNT, repository, mounted);
                }
            }
            case UPLOAD -> received(repository, status, bytesReceived);
            default -> {
                // no lookups or blob bytes elsewhere
            }
        }
    }

    /**
     * What a manifest or blob read came to, from its status: 200 (206 for a blob's range) a hit,
     * 404 a miss, and a capacity miss when it asked for a tag the repository held and lost. Null
     * for any other status: not a lookup.
     */
    private LookupOutcome outcome(LookupKind kind, Route route, int status) {
        if (status == 200 || (status == 206 && kind == LookupKind.BLOB)) {
            return LookupOutcome.HIT;
        }
        if (status != 404) {
            return null;
        }
        // Only a valid name can have held a tag (and only then is the tombstone worth reading).
        boolean heldAndLost = kind == LookupKind.TAG && RepositoryName.isValid(route.name())
                && tagWasRemoved.test(route.name(), route.param());
        return heldAndLost ? LookupOutcome.CAPACITY_MISS : LookupOutcome.MISS;
    }

    /**
     * Counts a lookup and a hit's bytes under the namespace of {@code repository}: a hit names a
     * repository that exists, a miss one that may not ({@link CacheMetrics#missedNamespace}),
     * unless it held the tag asked for. Returns the namespace, null when nothing was counted (not
     * a lookup, or not a valid name).
     */
    private NamespaceMeters lookup(LookupKind kind, String repository, LookupOutcome outcome, long bytesSent) {
        if (outcome == null) {
            return null;
        }
        NamespaceMeters ns = outcome.hit() ? metrics.namespace(repository) : metrics.missedNamespace(repository);
        if (ns == null) {
            return null;
        }
        if (outcome == LookupOutcome.CAPACITY_MISS) {
            ns = metrics.namespace(repository); // it held the tag: it exists
            metrics.capacityMiss(Surface.OCI, kind, repository);
        }
        metrics.lookup(Surface.OCI, kind, ns, outcome.hit());
        if (outcome.hit()) {
            metrics.served(Surface.OCI, ns, bytesSent);
        }
        return ns;
    }

    /**
     * A blob {@code HEAD}: what pushers send before each upload (pullers {@code GET}), so an
     * existence check and not a lookup; 200 says the blob is here and its bytes need not come.
     */
    private void existenceCheck(String repository, int status, long declaredLength) {
        if (status != 200 && status != 404) {
            return;
        }
        boolean hit = status == 200;
        NamespaceMeters ns = hit ? metrics.namespace(repository) : metrics.missedNamespace(repository);
        if (ns == null) {
            return;
        }
        metrics.existenceCheck(Surface.OCI, ns, hit);
        if (hit && declaredLength > 0) {
            metrics.saved(Surface.OCI, SavedReason.HEAD_HIT, ns, declaredLength);
        }
    }

    /**
     * Bytes of a push: one that went through names a repository it is creating; one that failed
     * (a digest mismatch, an invalid manifest) may name a repository that will never exist.
     */
    private void received(String repository, int status, long bytes) {
        if (bytes <= 0) {
            return;
        }
        NamespaceMeters ns = status < 300 ? metrics.namespace(repository)
                : metrics.missedNamespace(repository);
        if (ns != null) {
            metrics.received(Surface.OCI, ns, bytes);
        }
    }
}
