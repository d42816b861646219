package dev.layercache.server.http;

import dev.layercache.server.builds.BuildInsight;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.Reference;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.metadata.ManifestIndex.StoredManifest;
import dev.layercache.server.registry.AnswerCache;
import dev.layercache.server.registry.ManifestService;
import io.netty.buffer.ByteBufUtil;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.util.List;

/**
 * {@code /v2/<name>/manifests/<reference>}: GET, HEAD, PUT, DELETE by tag or digest. A push is told
 * to the build insight, whose hygiene warnings about a pushed build cache go back to the client
 * in {@code Warning} headers (the OCI distribution spec's way: {@code 299 - "text"}); the push
 * succeeds all the same.
 */
final class ManifestHandler {
    /** Warning headers on one answer at most, and characters of each. */
    static final int MAX_WARNINGS = 4;
    static final int MAX_WARNING_CHARS = 400;

    private final ManifestService manifests;
    private final BuildInsight builds;
    private final MirrorGate mirrors;
    /** Filled with each manifest served (see {@link FastPath}); null: none. */
    private final AnswerCache answers;

    ManifestHandler(ManifestService manifests, BuildInsight builds, MirrorGate mirrors, AnswerCache answers) {
        this.manifests = manifests;
        this.builds = builds;
        this.mirrors = mirrors;
        this.answers = answers;
    }

    Response get(Request request) {
        Reference reference = Reference.parse(request.route().param());
        String repo = request.repository().toString();
        long stamp = answers == null ? 0 : answers.repositoryStamp(repo); // before the store is read
        StoredManifest m;
        MirrorGate.Resolved from;
        try {
            from = mirrors.manifest(request, reference);
            m = manifests.get(from.repository(), reference);
            checkAccepted(request, m);
        } catch (RegistryException e) {
            if (e.code() == ErrorCode.MANIFEST_UNKNOWN) {
                lookedUp(request, reference, false);
            }
            throw e;
        }
        lookedUp(request, reference, true);
        if (answers != null && from.warning() == null && from.repository().toString().equals(repo)) {
            answers.put(new AnswerCache.ManifestKey(repo, request.route().param()), m, stamp, m.content().length);
        }
        Response r = answer(m);
        if (from.warning() != null) {
            r.addHeader(HttpHeaderNames.WARNING, warning(from.warning()));
        }
        return r;
    }

    /** The answer to a read of {@code m}: the same whether it was read from the store or from memory. */
    static Response answer(StoredManifest m) {
        return Response.bytes(HttpResponseStatus.OK, m.content(), m.mediaType())
                .header(Headers.CONTENT_DIGEST, m.digest())
                .header(HttpHeaderNames.ETAG, "\"" + m.digest() + "\"");
    }

    Response put(Request request) {
        RepositoryName repo = request.repository();
        Reference reference = Reference.parse(request.route().param());
        byte[] content = ByteBufUtil.getBytes(request.body());
        ManifestService.PutResult result = manifests.put(repo, reference,
                request.header(HttpHeaderNames.CONTENT_TYPE), content);
        Response r = Response.status(HttpResponseStatus.CREATED)
                .header(HttpHeaderNames.LOCATION, "/v2/" + repo + "/manifests/" + result.digest())
                .header(Headers.CONTENT_DIGEST, result.digest());
        if (result.subject() != null) {
            r.header(Headers.OCI_SUBJECT, result.subject());
        }
        List<String> warnings = builds.pushed(repo, reference, result.digest(), result.manifest(), request.client());
        for (int i = 0; i < Math.min(MAX_WARNINGS, warnings.size()); i++) {
            r.addHeader(HttpHeaderNames.WARNING, warning(warnings.get(i)));
        }
        return r;
    }

    Response delete(Request request) {
        RepositoryName repo = request.repository();
        manifests.delete(repo, Reference.parse(request.route().param()));
        return Response.status(HttpResponseStatus.ACCEPTED);
    }

    /**
     * Tells the build insight of a lookup by tag (buildah asks one step-key tag per step). Told
     * here, before the answer is sent, rather than by a listener after it: the builder's next
     * request must never overtake its lookup.
     */
    private void lookedUp(Request request, Reference reference, boolean hit) {
        if (reference instanceof Reference.ByTag t) {
            builds.looked(request.repository().toString(), request.client(), t.tag().toString(), hit);
        }
    }

    /** True when the request's {@code Accept} lines (if any) admit {@code m}'s media type (see {@link #checkAccepted}). */
    static boolean accepts(Request request, StoredManifest m) {
        List<String> lines = request.headers().getAll(HttpHeaderNames.ACCEPT);
        if (lines.isEmpty()) {
            return true;
        }
        for (String line : lines) {
            for (String item : line.split(",")) {
                String type = item.split(";", 2)[0].trim();
                if (type.isEmpty() || type.equals("*/*") || type.equals("application/*")
                        || type.equalsIgnoreCase(m.mediaType())) {
                    return true;
                }
            }
        }
        return false;
    }

    /** {@code 299 - "layercache: TEXT"}, the text made safe for a quoted header value (printable ASCII, no quote). */
    static String warning(String text) {
        StringBuilder out = new StringBuilder("299 - \"layercache: ");
        int n = Math.min(text.length(), MAX_WARNING_CHARS);
        for (int i = 0; i < n; i++) {
            char c = text.charAt(i);
            out.append(c == '"' || c == '\\' ? '\'' : c < 0x20 || c > 0x7e ? ' ' : c);
        }
        return out.append('"').toString();
    }

    /**
     * A client that lists the media types it understands gets a miss for a manifest of another
     * type rather than bytes it cannot parse (as CNCF Distribution does). Clients send the list on
     * one comma-joined line (containerd) or one type per line (buildah, skopeo): read them all.
     */
    private static void checkAccepted(Request request, StoredManifest m) {
        if (accepts(request, m)) {
            return;
        }
        throw new RegistryException(ErrorCode.MANIFEST_UNKNOWN,
                "manifest " + m.digest() + " has media type " + m.mediaType() + ", which the request does not accept",
                m.digest().toString());
    }
}
