package dev.layercache.server.http;

import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.Reference;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.metadata.ManifestIndex.StoredManifest;
import dev.layercache.server.registry.ManifestService;
import io.netty.buffer.ByteBufUtil;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.util.List;

/** {@code /v2/<name>/manifests/<reference>}: GET, HEAD, PUT, DELETE by tag or digest. */
final class ManifestHandler {
    private final ManifestService manifests;

    ManifestHandler(ManifestService manifests) {
        this.manifests = manifests;
    }

    Response get(Request request) {
        RepositoryName repo = request.repository();
        Reference reference = Reference.parse(request.route().param());
        StoredManifest m = manifests.get(repo, reference);
        checkAccepted(request, m);
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
        return r;
    }

    Response delete(Request request) {
        RepositoryName repo = request.repository();
        manifests.delete(repo, Reference.parse(request.route().param()));
        return Response.status(HttpResponseStatus.ACCEPTED);
    }

    /**
     * A client that lists the media types it understands gets a miss for a manifest of another
     * type rather than bytes it cannot parse (as CNCF Distribution does). Clients send the list on
     * one comma-joined line (containerd) or one type per line (buildah, skopeo): read them all.
     */
    private static void checkAccepted(Request request, StoredManifest m) {
        List<String> lines = request.headers().getAll(HttpHeaderNames.ACCEPT);
        if (lines.isEmpty()) {
            return;
        }
        for (String line : lines) {
            for (String item : line.split(",")) {
                String type = item.split(";", 2)[0].trim();
                if (type.isEmpty() || type.equals("*/*") || type.equals("application/*")
                        || type.equalsIgnoreCase(m.mediaType())) {
                    return;
                }
            }
        }
        throw new RegistryException(ErrorCode.MANIFEST_UNKNOWN,
                "manifest " + m.digest() + " has media type " + m.mediaType() + ", which the request does not accept",
                m.digest().toString());
    }
}
