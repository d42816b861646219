package dev.layercache.server.http;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.layercache.server.lifecycle.Lifecycle;
import dev.layercache.server.lifecycle.NamespacePurge;
import io.netty.handler.codec.http.HttpResponseStatus;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code DELETE /api/v1/namespaces/<prefix>}: purges the repositories named {@code prefix} or
 * below it, with their tags, manifests, cache entries and the blobs no other repository uses
 * ({@link NamespacePurge}); with {@code ?dry_run=true} it only answers what would go. An empty
 * prefix is refused (400): it would be every repository.
 */
final class NamespaceHandler {
    private static final Logger audit = LoggerFactory.getLogger("layercache.audit");

    private final Lifecycle lifecycle;
    private final ObjectMapper json;

    NamespaceHandler(Lifecycle lifecycle, ObjectMapper json) {
        this.lifecycle = lifecycle;
        this.json = json;
    }

    Response purge(Request request) {
        boolean dryRun = "true".equalsIgnoreCase(request.param("dry_run"));
        NamespacePurge.Report r = lifecycle.purge(request.route().name(), dryRun);
        // The access log's audit line names the request; this one what it removed.
        audit.info("identity={} purge namespace={} dry_run={} repositories={} tags={} manifests={} entries={}"
                + " blobs={} bytes={}", request.identity().name(), r.prefix(), dryRun, r.repositories().size(),
                r.tags(), r.manifests(), r.entries(), r.blobs(), r.bytes());
        ObjectNode out = json.createObjectNode();
        out.put("at", r.at().toString());
        out.put("namespace", r.prefix());
        out.put("dry_run", r.dryRun());
        r.repositories().forEach(out.putArray("repositories")::add);
        out.put("tags", r.tags());
        out.put("manifests", r.manifests());
        out.put("entries", r.entries());
        out.put("blobs", r.blobs());
        out.put("bytes", r.bytes());
        r.digests().forEach(out.putArray("digests")::add);
        out.put("millis", r.millis());
        return Response.json(HttpResponseStatus.OK, json, out, "application/json");
    }
}
