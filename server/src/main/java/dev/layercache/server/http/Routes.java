package dev.layercache.server.http;

import static io.netty.handler.codec.http.HttpMethod.DELETE;
import static io.netty.handler.codec.http.HttpMethod.GET;
import static io.netty.handler.codec.http.HttpMethod.HEAD;
import static io.netty.handler.codec.http.HttpMethod.PATCH;
import static io.netty.handler.codec.http.HttpMethod.POST;
import static io.netty.handler.codec.http.HttpMethod.PUT;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.auth.AccessControl;
import dev.layercache.server.metadata.RepositoryIndex;
import dev.layercache.server.metrics.CacheMetrics;
import dev.layercache.server.node.Services;
import dev.layercache.server.registry.BlobService;
import dev.layercache.server.registry.ManifestService;
import io.netty.handler.codec.http.HttpMethod;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.Map;
import java.util.function.BooleanSupplier;

/**
 * The table of resource and method to handler: the whole HTTP API on one page ({@link #api}).
 * Binding endpoints one by one builds a partial table, for tests of the pipeline.
 */
final class Routes {
    private final Map<Route.Resource, Map<HttpMethod, Binding>> table = new EnumMap<>(Route.Resource.class);

    /** An empty table, for tests that bind a few endpoints of their own ({@link #plain}, {@link #bind}). */
    Routes() {
    }

    /** The node's whole HTTP API over {@code services}. */
    static Routes api(Services services, CacheMetrics metrics, AccessControl access, BooleanSupplier ready,
                      int maxManifestBytes) {
        Routes routes = new Routes();
        routes.bindApi(services, metrics, access, ready, maxManifestBytes);
        return routes;
    }

    private void bindApi(Services services, CacheMetrics metrics, AccessControl access, BooleanSupplier ready,
                         int maxManifestBytes) {
        ObjectMapper json = services.json();
        BlobService blobs = services.served().blobs();
        ManifestService manifests = services.served().manifests();
        BaseHandler base = new BaseHandler(ready, services.lifecycle().status()::startupCheckRunning);
        MirrorGate mirrorGate = new MirrorGate(services.mirrors(), services.mirror(),
                new RepositoryIndex(services.stores().served()), access);
        BlobHandler blob = new BlobHandler(blobs, mirrorGate, services.answers());
        UploadHandler upload = new UploadHandler(services.uploads(), blobs, access);
        ObservabilityHandler observability = new ObservabilityHandler(metrics, json, access, services.builds());
        BuildsHandler builds = new BuildsHandler(services.builds(), json, access);
        StoreHandler store = new StoreHandler(services.lifecycle(), json);
        ManifestHandler manifest = new ManifestHandler(manifests, services.builds(), mirrorGate, services.answers());
        ListingHandler listing = new ListingHandler(manifests, json, access, services.answers());
        AnalysisHandler analyses = new AnalysisHandler(services.analysis(), json, access);

        plain(Route.Resource.BASE, GET, base::base);
        plain(Route.Resource.BASE, HEAD, base::base);
        plain(Route.Resource.HEALTHZ, GET, base::healthz);
        plain(Route.Resource.HEALTHZ, HEAD, base::healthz);
        plain(Route.Resource.READYZ, GET, base::readyz);
        plain(Route.Resource.READYZ, HEAD, base::readyz);
        plain(Route.Resource.METRICS, GET, observability::metrics);
        plain(Route.Resource.STATS, GET, observability::stats);
        plain(Route.Resource.UI, GET, observability::ui);
        plain(Route.Resource.STORE, GET, store::status);
        plain(Route.Resource.GC, POST, store::collect);
        plain(Route.Resource.NAMESPACE, DELETE, new NamespaceHandler(services.lifecycle(), json)::purge);
        plain(Route.Resource.ANALYSIS, GET, analyses::analysis);
        plain(Route.Resource.SHARING, GET, analyses::sharing);
        plain(Route.Resource.BUILDS, GET, builds::list);

        plain(Route.Resource.BLOB, HEAD, blob::head);
        plain(Route.Resource.BLOB, GET, blob::get);
        plain(Route.Resource.BLOB, DELETE, blob::delete);

        bind(Route.Resource.UPLOADS, POST, new Binding.Streaming(upload::post));
        bind(Route.Resource.UPLOAD, PATCH, new Binding.Streaming(upload::patch));
        bind(Route.Resource.UPLOAD, PUT, new Binding.Streaming(upload::put));
        plain(Route.Resource.UPLOAD, GET, upload::status);
        plain(Route.Resource.UPLOAD, DELETE, upload::cancel);
        plain(Route.Resource.HANDOVER, GET, upload::handOver);

        plain(Route.Resource.MANIFEST, GET, manifest::get);
        plain(Route.Resource.MANIFEST, HEAD, manifest::get);
        bind(Route.Resource.MANIFEST, PUT, new Binding.Buffered(manifest::put, maxManifestBytes));
        plain(Route.Resource.MANIFEST, DELETE, manifest::delete);

        plain(Route.Resource.TAGS, GET, listing::tags);
        plain(Route.Resource.CATALOG, GET, listing::catalog);
        plain(Route.Resource.REFERRERS, GET, listing::referrers);
    }

    /** The binding for a route and method; null when the resource exists but not the method. */
    Binding find(Route.Resource resource, HttpMethod method) {
        Map<HttpMethod, Binding> methods = table.get(resource);
        return methods == null ? null : methods.get(method);
    }

    /** True when some method is bound for the resource (so a miss is 405, not 404). */
    boolean knows(Route.Resource resource) {
        return table.containsKey(resource);
    }

    /** The methods bound for a resource, for the {@code Allow} header of a 405. */
    String allowed(Route.Resource resource) {
        Map<HttpMethod, Binding> methods = table.get(resource);
        return methods == null ? "" : String.join(", ", methods.keySet().stream().map(HttpMethod::name).sorted().toList());
    }

    void plain(Route.Resource resource, HttpMethod method, Endpoint endpoint) {
        bind(resource, method, new Binding.Plain(endpoint));
    }

    void bind(Route.Resource resource, HttpMethod method, Binding binding) {
        table.computeIfAbsent(resource, r -> new HashMap<>()).put(method, binding);
    }
}
