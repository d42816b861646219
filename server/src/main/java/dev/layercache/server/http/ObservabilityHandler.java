package dev.layercache.server.http;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.layercache.server.auth.AccessControl;
import dev.layercache.server.auth.Action;
import dev.layercache.server.auth.Identity;
import dev.layercache.server.builds.BuildInsight;
import dev.layercache.server.builds.BuildRecord;
import dev.layercache.server.metrics.CacheMetrics;
import dev.layercache.server.metrics.MetricsView;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * {@code /metrics} (Prometheus text), {@code /api/v1/stats} (JSON) and {@code /ui/} (the
 * dashboard page, served from the jar: no file of it comes from the internet). With access
 * control, the figures of a namespace go only to callers who may read it (see {@link Reader}).
 */
final class ObservabilityHandler {
    /** Files of the page: plain names only, so no path can leave the folder. */
    private static final Pattern UI_FILE = Pattern.compile("[a-z0-9][a-z0-9._-]{0,63}");
    private static final Map<String, String> TYPES = Map.of(
            "html", "text/html; charset=utf-8",
            "js", "text/javascript; charset=utf-8",
            "css", "text/css; charset=utf-8",
            "svg", "image/svg+xml",
            "png", "image/png");

    private final CacheMetrics metrics;
    private final ObjectMapper json;
    private final BuildInsight builds;
    /** Builds listed in the stats at most. */
    static final int RECENT_BUILDS = 10;
    private final AccessControl access;
    private final Map<String, byte[]> files = new ConcurrentHashMap<>();

    ObservabilityHandler(CacheMetrics metrics, ObjectMapper json, AccessControl access, BuildInsight builds) {
        this.builds = builds;
        this.metrics = metrics;
        this.json = json;
        this.access = access;
    }

    /**
     * What a caller may see: everything without access control or with {@code read} on every
     * namespace (the scrape identity), otherwise the namespaces and repositories its rules let it
     * read. The page at {@code /ui/} shows what {@code /api/v1/stats} answers its caller.
     */
    private MetricsView view(Request request) {
        Identity who = request.identity();
        return !access.enabled() || access.allows(who, Action.READ, null) ? MetricsView.ALL : new Reader(access, who);
    }

    /** A caller who may read some namespaces only. */
    private record Reader(AccessControl access, Identity who) implements MetricsView {
        @Override
        public boolean everything() {
            return false;
        }

        /**
         * Rules match names by prefix, so asking about {@code team/}, the start every repository
         * below the namespace shares, is true exactly when one rule covers them all: {@code *},
         * {@code team/*}, {@code team}, or a pattern for a shorter prefix.
         */
        @Override
        public boolean namespace(String prefix) {
            return access.allows(who, Action.READ, prefix + "/");
        }

        @Override
        public boolean repository(String name) {
            return access.allows(who, Action.READ, name);
        }
    }

    Response metrics(Request request) {
        if (!metrics.enabled()) {
            return disabled();
        }
        String accept = request.header(HttpHeaderNames.ACCEPT);
        return Response.bytes(HttpResponseStatus.OK,
                metrics.scrape(accept, view(request)).getBytes(StandardCharsets.UTF_8), CacheMetrics.contentType(accept));
    }

    Response stats(Request request) {
        if (!metrics.enabled()) {
            return disabled();
        }
        MetricsView view = view(request);
        ObjectNode body = metrics.snapshot(view).toJson(json);
        body.set("builds", buildsJson(view));
        return Response.json(HttpResponseStatus.OK, json, body, "application/json")
                .header(HttpHeaderNames.CACHE_CONTROL, "no-store");
    }

    /**
     * The step-level hit rate of each stock builder since the node started (the builds it
     * recorded) and the newest builds in repositories the caller may read.
     */
    private ObjectNode buildsJson(MetricsView view) {
        ObjectNode out = json.createObjectNode();
        ObjectNode steps = out.putObject("steps");
        for (Map.Entry<String, long[]> e : new TreeMap<>(builds.stepTotals()).entrySet()) {
            long reused = e.getValue()[0];
            long rebuilt = e.getValue()[1];
            ObjectNode b = steps.putObject(e.getKey()).put("reused", reused).put("rebuilt", rebuilt);
            if (reused + rebuilt == 0) {
                b.putNull("reuse_rate");
            } else {
                b.put("reuse_rate", (double) reused / (reused + rebuilt));
            }
        }
        ArrayNode recent = out.putArray("recent");
        for (BuildRecord r : builds.recent(repo -> view.everything() || view.repository(repo), RECENT_BUILDS)) {
            recent.add(r.toJson(json));
        }
        return out;
    }

    Response ui(Request request) throws IOException {
        if (!metrics.enabled()) {
            return disabled();
        }
        String name = request.route().param();
        if (name == null) {
            return Response.status(HttpResponseStatus.MOVED_PERMANENTLY).header(HttpHeaderNames.LOCATION, "/ui/");
        }
        byte[] content = UI_FILE.matcher(name).matches() ? file(name) : null;
        if (content == null) {
            return Response.text(HttpResponseStatus.NOT_FOUND, "no such file of the dashboard: " + name + "\n");
        }
        String type = TYPES.getOrDefault(name.substring(name.lastIndexOf('.') + 1), "application/octet-stream");
        return Response.bytes(HttpResponseStatus.OK, content, type)
                .header(HttpHeaderNames.CACHE_CONTROL, "no-cache")
                .header("X-Content-Type-Options", "nosniff");
    }

    private byte[] file(String name) throws IOException {
        byte[] cached = files.get(name);
        if (cached != null) {
            return cached;
        }
        try (InputStream in = ObservabilityHandler.class.getResourceAsStream("/ui/" + name)) {
            if (in == null) {
                return null;
            }
            byte[] content = in.readAllBytes();
            files.put(name, content);
            return content;
        }
    }

    private static Response disabled() {
        return Response.text(HttpResponseStatus.NOT_FOUND, "metrics are off on this node (metrics-enabled: false)\n");
    }
}
