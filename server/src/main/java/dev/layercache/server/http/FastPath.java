package dev.layercache.server.http;

import dev.layercache.server.auth.Identity;
import dev.layercache.server.builds.BuildahBuilds;
import dev.layercache.server.core.Digest;
import dev.layercache.server.core.Reference;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.metadata.ManifestIndex.StoredManifest;
import dev.layercache.server.registry.AnswerCache;
import dev.layercache.server.registry.BlobService;
import dev.layercache.server.registry.ManifestService;
import io.netty.handler.codec.http.HttpMethod;
import java.net.InetAddress;
import java.util.concurrent.CompletableFuture;

/**
 * Small reads answered on the event loop from the node's memory of recent answers
 * ({@link AnswerCache}): a manifest by tag or digest (GET, HEAD), a tags page, a blob's HEAD. The
 * one exception to "nothing that can block runs on the event loop": the hand-off to the request
 * pool and back cost a fifth to a third of the server's CPU for these requests (two to three
 * context switches each, BENCHMARKS.md "Issue 24"), and the answer is in memory. Storage is never
 * read here: a miss, or anything this class is not sure of, returns null and the request goes the
 * usual way, whose handler fills the memory.
 *
 * <p>Every side effect of the usual way is kept: the same admission (only built where it is pure
 * CPU: no credentials asked for, so no bcrypt), the same use of the root for eviction, the same
 * question recorded for a blob (under the digest's lock, taken only if free), the same
 * {@link Response} from the same code ({@code answer} methods of the handlers), and the same
 * completion (access log, metrics) since the dispatcher sends it as any other answer. A buildah
 * step-key tag goes the usual way: its lookup is told to the build insight.
 */
final class FastPath {
    private final AnswerCache answers;
    private final ManifestService manifests;
    private final BlobService blobs;
    private final HttpAccess access;

    FastPath(AnswerCache answers, ManifestService manifests, BlobService blobs, HttpAccess access) {
        this.answers = answers;
        this.manifests = manifests;
        this.blobs = blobs;
        this.access = access;
    }

    /** The answer from memory, on the event loop; null when the request must go the usual way. */
    Response answer(Request request, InetAddress client) {
        HttpMethod method = request.method();
        boolean get = HttpMethod.GET.equals(method);
        if (!get && !HttpMethod.HEAD.equals(method) || blobs.filesInDoubt()) {
            return null;
        }
        try {
            return switch (request.route().resource()) {
                case MANIFEST -> manifest(request, client);
                case TAGS -> get ? tags(request, client) : null;
                case BLOB -> get ? null : blobHead(request, client);
                default -> null;
            };
        } catch (RuntimeException malformed) {
            return null; // a bad name or reference: the usual way says so
        }
    }

    private Response manifest(Request request, InetAddress client) {
        RepositoryName repo = request.repository();
        String param = request.route().param();
        if (!(answers.get(new AnswerCache.ManifestKey(repo.toString(), param)) instanceof StoredManifest m)) {
            return null;
        }
        Reference reference = Reference.parse(param);
        if (reference instanceof Reference.ByTag t && BuildahBuilds.isStepKey(t.tag().toString())
                || !ManifestHandler.accepts(request, m) || !admitted(request, client)) {
            return null;
        }
        manifests.used(repo, reference, m);
        return ManifestHandler.answer(m);
    }

    private Response tags(Request request, InetAddress client) {
        AnswerCache.TagsKey key = new AnswerCache.TagsKey(request.repository().toString(), request.param("n"),
                request.param("last"));
        if (!(answers.get(key) instanceof ListingHandler.Page page) || !admitted(request, client)) {
            return null;
        }
        return ListingHandler.answer(page);
    }

    private Response blobHead(Request request, InetAddress client) {
        Digest digest = Digest.parse(request.route().param());
        AnswerCache.BlobKey key = new AnswerCache.BlobKey(request.repository().toString(), digest.toString());
        if (!(answers.get(key) instanceof Long size)) {
            return null;
        }
        // Asked under the digest's lock, as the usual way asks: a collection removing the blob
        // voids the memory under that lock, so "still held" is never said of a blob already gone.
        // Admitted under it too, last: once admitted (a token taken from the client's rate
        // limit) the answer is given here, never handed to the usual way to be admitted again.
        if (!blobs.askedFromMemory(digest, () -> answers.holds(key) && admitted(request, client))) {
            return null;
        }
        return BlobHandler.headAnswer(digest, size);
    }

    /** The usual admission, when it answers at once (it always does without credentials); false: go the usual way. */
    private boolean admitted(Request request, InetAddress client) {
        CompletableFuture<Identity> admitted;
        try {
            admitted = access.admit(request, client);
        } catch (RuntimeException e) {
            return false;
        }
        if (!admitted.isDone() || admitted.isCompletedExceptionally()) {
            return false; // refused (a rate limit): the usual way refuses and says why
        }
        request.identity(admitted.join());
        return true;
    }
}
