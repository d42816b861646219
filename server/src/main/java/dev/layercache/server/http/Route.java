package dev.layercache.server.http;

/**
 * Where a request path leads: the resource kind and the raw path parts. The parts are validated
 * into value types by the handler that uses them, so one error mapping covers them all.
 *
 * @param resource the kind of resource addressed
 * @param name     the repository name, or null
 * @param param    the last path part (reference, digest or upload id), or null
 */
public record Route(Resource resource, String name, String param) {

    /** The resources of the server, one handler each. */
    public enum Resource {
        BASE, CATALOG, TAGS, MANIFEST, BLOB, UPLOADS, UPLOAD, REFERRERS, HEALTHZ, READYZ,
        /** {@code /metrics}: Prometheus text. */
        METRICS,
        /** {@code /api/v1/stats}: hit rates and usage as JSON. */
        STATS,
        /** {@code /ui/...}: the dashboard page and its files (param: the file name; null for {@code /ui} and {@code /}). */
        UI,
        /** {@code /api/v1/store}: usage, budget, counts, the last collection. */
        STORE,
        /** {@code /api/v1/gc}: POST runs a collection ({@code ?dry_run=true} only reports). */
        GC,
        /** {@code /api/v1/analysis/<repository>/<reference>}: layer analysis of a manifest (param: the reference). */
        ANALYSIS,
        /** {@code /api/v1/sharing}: logical against physical layer bytes, the most shared layers. */
        SHARING,
        /** {@code /api/v1/builds?repository=<name>}: what stock builders' builds reused and rebuilt. */
        BUILDS,
        /** {@code /api/v1/namespaces/<prefix>}: DELETE purges the namespace ({@code ?dry_run=true} only reports); name: the prefix, maybe empty. */
        NAMESPACE,
        /** {@code /internal/v1/uploads/<id>}: GET hands an upload session over to another node of the cluster. */
        HANDOVER,
        NOT_FOUND
    }

    private static final String V2 = "/v2/";
    private static final String ANALYSIS = "/api/v1/analysis/";
    private static final String NAMESPACES = "/api/v1/namespaces/";

    /** Routes a raw (not percent-decoded) path without query string. */
    public static Route of(String path) {
        if (path.equals("/v2") || path.equals(V2)) {
            return new Route(Resource.BASE, null, null);
        }
        if (path.equals("/healthz")) {
            return new Route(Resource.HEALTHZ, null, null);
        }
        if (path.equals("/readyz")) {
            return new Route(Resource.READYZ, null, null);
        }
        if (path.equals("/metrics")) {
            return new Route(Resource.METRICS, null, null);
        }
        if (path.equals("/api/v1/stats")) {
            return new Route(Resource.STATS, null, null);
        }
        if (path.equals("/api/v1/store")) {
            return new Route(Resource.STORE, null, null);
        }
        if (path.equals("/api/v1/gc")) {
            return new Route(Resource.GC, null, null);
        }
        if (path.equals("/api/v1/namespaces") || path.startsWith(NAMESPACES)) {
            // An empty prefix is routed too, so that the handler can refuse it with 400.
            return new Route(Resource.NAMESPACE, path.length() > NAMESPACES.length()
                    ? path.substring(NAMESPACES.length()) : "", null);
        }
        if (path.equals("/api/v1/builds")) {
            return new Route(Resource.BUILDS, null, null);
        }
        if (path.equals("/api/v1/sharing")) {
            return new Route(Resource.SHARING, null, null);
        }
        if (path.startsWith(ANALYSIS)) {
            String rest = path.substring(ANALYSIS.length());
            int slash = rest.lastIndexOf('/');
            return slash <= 0 ? notFound() : named(Resource.ANALYSIS, rest.substring(0, slash), rest.substring(slash + 1));
        }
        if (path.startsWith("/internal/v1/uploads/") && path.length() > "/internal/v1/uploads/".length()) {
            return new Route(Resource.HANDOVER, null, path.substring("/internal/v1/uploads/".length()));
        }
        // "/" is where a person's browser goes first: to the dashboard, as "/ui" does.
        if (path.equals("/ui") || path.equals("/")) {
            return new Route(Resource.UI, null, null);
        }
        if (path.startsWith("/ui/")) {
            String file = path.substring("/ui/".length());
            return new Route(Resource.UI, null, file.isEmpty() ? "index.html" : file);
        }
        if (!path.startsWith(V2)) {
            return notFound();
        }
        String rest = path.substring(V2.length());
        if (rest.equals("_catalog")) {
            return new Route(Resource.CATALOG, null, null);
        }
        if (rest.endsWith("/tags/list")) {
            return named(Resource.TAGS, rest.substring(0, rest.length() - "/tags/list".length()), null);
        }
        if (rest.endsWith("/blobs/uploads") || rest.endsWith("/blobs/uploads/")) {
            return named(Resource.UPLOADS, rest.substring(0, rest.lastIndexOf("/blobs/uploads")), null);
        }
        int lastSlash = rest.lastIndexOf('/');
        if (lastSlash <= 0) {
            return notFound();
        }
        String last = rest.substring(lastSlash + 1);
        String head = rest.substring(0, lastSlash);
        if (head.endsWith("/blobs/uploads")) {
            return named(Resource.UPLOAD, head.substring(0, head.length() - "/blobs/uploads".length()), last);
        }
        int kindSlash = head.lastIndexOf('/');
        if (kindSlash <= 0) {
            return notFound();
        }
        String kind = head.substring(kindSlash + 1);
        String name = head.substring(0, kindSlash);
        return switch (kind) {
            case "manifests" -> named(Resource.MANIFEST, name, last);
            case "blobs" -> named(Resource.BLOB, name, last);
            case "referrers" -> named(Resource.REFERRERS, name, last);
            default -> notFound();
        };
    }

    private static Route named(Resource resource, String name, String param) {
        if (name.isEmpty() || (param != null && param.isEmpty())) {
            return notFound();
        }
        return new Route(resource, name, param);
    }

    private static Route notFound() {
        return new Route(Resource.NOT_FOUND, null, null);
    }
}
