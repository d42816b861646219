package dev.layercache.server.http;

import dev.layercache.server.auth.AccessControl;
import dev.layercache.server.auth.Action;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.Reference;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.metadata.RepositoryIndex;
import dev.layercache.server.mirror.BlobFetch;
import dev.layercache.server.mirror.MirrorService;
import dev.layercache.server.mirror.Mirrored;
import dev.layercache.server.mirror.Mirrors;
import io.netty.handler.codec.http.HttpHeaderNames;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Where a manifest or blob read is served from when it asks for a mirrored repository, after the
 * mirror has made it be here (docs/mirror.md): the handlers then serve the copy as they serve any
 * repository's. A request for a name that is no mirror passes through untouched; one that asks a
 * mirror is marked so ({@link Request#mirrored}), since the mirror counts its lookup
 * ({@code surface="mirror"}) and {@link RequestMetrics} must not count it as the build cache's.
 */
final class MirrorGate {
    /** What a client that sends no Accept can read: every manifest type a registry serves. */
    static final List<String> ANY_MANIFEST = List.of("application/vnd.oci.image.index.v1+json",
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.docker.distribution.manifest.v2+json");

    /**
     * Where to serve from: the copy's repository, and a warning for the answer (null: none); for
     * a blob still arriving from the upstream, the reader of its fetch ({@code live}, else null).
     */
    record Resolved(RepositoryName repository, String warning, BlobFetch.Reader live) {
        Resolved(RepositoryName repository, String warning) {
            this(repository, warning, null);
        }
    }

    private final Mirrors mirrors;
    private final MirrorService mirror;
    private final RepositoryIndex repositories;
    private final AccessControl access;

    MirrorGate(Mirrors mirrors, MirrorService mirror, RepositoryIndex repositories, AccessControl access) {
        this.mirrors = mirrors;
        this.mirror = mirror;
        this.repositories = repositories;
        this.access = access;
    }

    /** For a manifest read: the repository to serve it from, fetched or revalidated if it is a mirror's. */
    Resolved manifest(Request request, Reference reference) {
        Optional<Mirrored> m = resolve(request);
        if (m.isEmpty()) {
            return new Resolved(request.repository(), null);
        }
        MirrorService.Served served = mirror.manifest(m.get(), reference, accept(request));
        return new Resolved(m.get().local(), served.warning());
    }

    /** For a blob read: the repository to serve it from, fetched if it is a mirror's. */
    Resolved blob(Request request, Digest digest) {
        Optional<Mirrored> m = resolve(request);
        if (m.isEmpty()) {
            return new Resolved(request.repository(), null);
        }
        MirrorService.Served served = mirror.blob(m.get(), digest);
        return new Resolved(m.get().local(), served.warning());
    }

    /**
     * For a whole blob's {@code GET}: like {@link #blob}, but a blob the mirror is still fetching
     * is given as it arrives ({@link Resolved#live}).
     */
    Resolved blobToRead(Request request, Digest digest) {
        Optional<Mirrored> m = resolve(request);
        if (m.isEmpty()) {
            return new Resolved(request.repository(), null);
        }
        MirrorService.BlobRead read = mirror.blobToRead(m.get(), digest);
        return new Resolved(m.get().local(), read.served().warning(), read.live());
    }

    /**
     * The mirror a request asks, by the three rules of {@link Mirrors}. A name reached through
     * {@code ?ns=} or dockerd's rule is not the one the access check before the handler saw, so
     * read access is checked again on the name of the copy ({@code docker.io/library/busybox}).
     */
    private Optional<Mirrored> resolve(Request request) {
        if (!mirrors.enabled()) {
            return Optional.empty();
        }
        RepositoryName asked = request.repository();
        Optional<Mirrored> m = mirrors.byPath(asked);
        if (m.isEmpty()) {
            m = mirrors.byNamespace(asked, request.param("ns"));
        }
        if (m.isEmpty() && request.param("ns") == null && !repositories.exists(asked)) {
            m = mirrors.dockerHub(asked);
        }
        if (m.isPresent() && !m.get().local().equals(asked)) {
            access.check(request.identity(), Action.READ, m.get().local().toString());
        }
        m.ifPresent(mirrored -> request.mirrored(mirrored.upstream().name()));
        return m;
    }

    private static List<String> accept(Request request) {
        List<String> out = new ArrayList<>();
        for (String line : request.headers().getAll(HttpHeaderNames.ACCEPT)) {
            for (String item : line.split(",")) {
                String type = item.split(";", 2)[0].trim();
                if (!type.isEmpty() && !type.equals("*/*")) {
                    out.add(type);
                }
            }
        }
        return out.isEmpty() ? ANY_MANIFEST : out;
    }
}
