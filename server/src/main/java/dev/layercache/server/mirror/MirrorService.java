package dev.layercache.server.mirror;

import dev.layercache.server.core.Digest;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.Reference;
import dev.layercache.server.core.RegistryException;
import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.metadata.ManifestIndex.StoredManifest;
import dev.layercache.server.metrics.LookupKind;
import dev.layercache.server.registry.BlobService;
import dev.layercache.server.registry.ManifestService;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes what a client asks of a mirrored repository be here, fetched from its upstream once, by
 * the rules of docs/mirror.md ("Caching rules"):
 * <ul>
 *   <li><b>Blobs and manifests by digest</b> never change: fetched once, verified against their
 *       digest, then kept like everything else (the node's budget and eviction apply to them).</li>
 *   <li><b>Tags</b> move: one read from the upstream is trusted for the upstream's
 *       {@link UpstreamSettings#revalidate} interval; after it, a {@code HEAD} asks whether the
 *       tag still names the same manifest (Docker Hub does not count a {@code HEAD} against its
 *       pull limit), and only a moved tag is fetched again.</li>
 *   <li><b>An upstream that cannot answer</b> (unreachable, slow, 429, 5xx) is no reason to fail a
 *       pull of something this node holds: the copy is served, stale, with a warning
 *       ({@link Served#warning}). What it does not hold gets the upstream's error.</li>
 *   <li><b>One fetch per blob</b>: concurrent requests for a blob share the same upstream
 *       fetch, each reading it as it arrives ({@link BlobFetch}); the fetch runs on threads of
 *       its own, so a client that goes away stops nobody else's.</li>
 * </ul>
 * The copy of {@code docker.io/library/busybox} lives in the repository of that name: tags,
 * manifests and blob links as if pushed there, which only the mirror can do ({@link Mirrors#isMirrored}).
 */
public final class MirrorService implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(MirrorService.class);
    /** Fetches of blobs running at once at most; more wait their turn. */
    static final int FETCHERS = 8;
    private static final int LOCK_STRIPES = 64;

    /** Whether what was served came from here or was just fetched, and how fresh it is. */
    public enum Freshness {
        /** Held here and within its interval (or immutable): the upstream was not asked. */
        HELD,
        /** Fetched from the upstream now. */
        FETCHED,
        /** A tag asked again of the upstream ({@code HEAD}): it still names the copy held here. */
        REVALIDATED,
        /** Held here and served although the upstream could not be asked: see the warning. */
        STALE
    }

    /** An upstream's failure to answer about a tag, and when ({@link System#nanoTime}). */
    private record Failed(long atNanos, UpstreamException error) {
    }

    /** What a request is served from. */
    public record Served(Freshness freshness, String warning) {
        static final Served HELD = new Served(Freshness.HELD, null);
        static final Served FETCHED = new Served(Freshness.FETCHED, null);
        static final Served REVALIDATED = new Served(Freshness.REVALIDATED, null);
    }

    private final ManifestService manifests;
    private final BlobService blobs;
    private final Path scratch;
    private final Clock clock;
    private final int maxManifestBytes;
    private final long maxBlobBytes;
    private final MirrorEvents events;
    private final Map<String, Instant> validated = new ConcurrentHashMap<>();
    /** The last question about a tag the upstream could not answer; removed when one succeeds. */
    private final Map<String, Failed> failed = new ConcurrentHashMap<>();
    private final Map<Digest, BlobFetch> fetching = new ConcurrentHashMap<>();
    private final ReentrantLock[] tagLocks = new ReentrantLock[LOCK_STRIPES];
    private final ExecutorService fetchers;
    private final Backoffs backoffs = new Backoffs();

    /**
     * @param scratch          where blobs being fetched are written (the uploads folder: a file
     *                         left there by a crash is removed at the next start)
     * @param maxManifestBytes the largest manifest fetched
     * @param maxBlobBytes     the largest blob fetched (0: no limit)
     */
    public MirrorService(ManifestService manifests, BlobService blobs, Path scratch, Clock clock, int maxManifestBytes,
                         long maxBlobBytes, MirrorEvents events) {
        this.manifests = manifests;
        this.blobs = blobs;
        this.scratch = scratch;
        this.clock = clock;
        this.maxManifestBytes = maxManifestBytes;
        this.maxBlobBytes = maxBlobBytes;
        this.events = events;
        for (int i = 0; i < LOCK_STRIPES; i++) {
            tagLocks[i] = new ReentrantLock();
        }
        AtomicInteger n = new AtomicInteger();
        this.fetchers = Executors.newFixedThreadPool(FETCHERS, r -> {
            Thread t = new Thread(r, "layercache-mirror-fetch-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    // ------------------------------------------------------------------ manifests

    /**
     * Makes the manifest {@code reference} names in {@code m} be held here (under {@code m.local()}),
     * fetched or revalidated as the rules say.
     *
     * @throws RegistryException the upstream's answer when nothing can be served
     */
    public Served manifest(Mirrored m, Reference reference, List<String> accept) {
        if (reference instanceof Reference.ByDigest d) {
            if (held(m.local(), reference) != null) {
                events.lookup(m.upstream().name(), LookupKind.MANIFEST, m.local(), true);
                return Served.HELD;
            }
            try {
                waitIfAsked(m);
                Upstream.Fetched f = m.upstream().get(m.remote(), d.digest().toString(), accept, maxManifestBytes);
                manifests.putMirrored(m.local(), reference, f.mediaType(), f.content());
                return Served.FETCHED;
            } catch (UpstreamException e) {
                backoffs.note(m.upstream().name(), e, clock.instant());
                throw refusal(m, e, ErrorCode.MANIFEST_UNKNOWN, "manifest " + d.digest());
            } finally {
                // Told after the fetch, so that a copy it stored names its namespace.
                events.lookup(m.upstream().name(), LookupKind.MANIFEST, m.local(), false);
            }
        }
        String tag = ((Reference.ByTag) reference).tag().toString();
        String key = m.local() + "\0" + tag;
        ReentrantLock lock = tagLocks[Math.floorMod(key.hashCode(), LOCK_STRIPES)];
        long arrived = System.nanoTime();
        lock.lock(); // one revalidation of a tag at a time: the others then find it fresh
        try {
            return tag(m, reference, tag, key, accept, arrived);
        } finally {
            lock.unlock();
        }
    }

    /**
     * @param arrived when the request came ({@link System#nanoTime}), before it waited for the
     *                tag's lock: a question the upstream failed to answer since then is this
     *                request's answer too. Without that, requests queued behind a mute upstream
     *                would each wait out its timeout in turn, the last of N waiting N times as long.
     */
    private Served tag(Mirrored m, Reference reference, String tag, String key, List<String> accept, long arrived) {
        StoredManifest held = held(m.local(), reference);
        Instant now = clock.instant();
        Instant checked = validated.get(key);
        Duration interval = m.upstream().revalidate();
        if (held != null && checked != null && now.isBefore(checked.plus(interval))) {
            events.lookup(m.upstream().name(), LookupKind.TAG, m.local(), true);
            return Served.HELD;
        }
        Failed last = failed.get(key);
        Served served = null;
        try {
            if (last != null && last.atNanos() - arrived >= 0) {
                served = unanswered(m, tag, held, last.error());
                return served;
            }
            waitIfAsked(m);
            if (held != null) {
                Upstream.Head head = m.upstream().head(m.remote(), tag, accept);
                if (head.digest().equals(held.digest())) {
                    validated.put(key, now);
                    failed.remove(key);
                    served = Served.REVALIDATED;
                    return served;
                }
            }
            Upstream.Fetched f = m.upstream().get(m.remote(), tag, accept, maxManifestBytes);
            manifests.putMirrored(m.local(), reference, f.mediaType(), f.content());
            validated.put(key, now);
            failed.remove(key);
            served = Served.FETCHED;
            return served;
        } catch (UpstreamException e) {
            backoffs.note(m.upstream().name(), e, now);
            failed.put(key, new Failed(System.nanoTime(), e));
            served = unanswered(m, tag, held, e);
            return served;
        } finally {
            // One lookup, told once its outcome is known: the copy held here served (revalidated
            // or stale) is a hit; fetched, or nothing to serve, a miss.
            events.lookup(m.upstream().name(), LookupKind.TAG, m.local(),
                    served != null && served.freshness() != Freshness.FETCHED);
        }
    }

    /** A tag the upstream could not answer about: the copy held here, stale, or the upstream's error. */
    private Served unanswered(Mirrored m, String tag, StoredManifest held, UpstreamException e) {
        if (held != null && e.serveStale()) {
            events.stale(m.upstream().name());
            log.warn("mirror: {} could not be asked about {}:{} ({}); serving the copy held here", m.upstream().name(),
                    m.remote(), tag, e.getMessage());
            return new Served(Freshness.STALE, m.upstream().name() + " could not be asked (" + e.kind()
                    + "): serving the copy of " + m.remote() + ":" + tag + " held here, which may be stale");
        }
        throw refusal(m, e, ErrorCode.MANIFEST_UNKNOWN, "manifest " + m.remote() + ":" + tag);
    }

    private StoredManifest held(RepositoryName local, Reference reference) {
        try {
            return manifests.get(local, reference);
        } catch (RegistryException e) {
            if (e.code() == ErrorCode.MANIFEST_UNKNOWN || e.code() == ErrorCode.NAME_UNKNOWN) {
                return null;
            }
            throw e;
        }
    }

    // ------------------------------------------------------------------ blobs

    /**
     * What a {@code GET} of a blob is served from: the store ({@code live} null), or the file of
     * the fetch still bringing it, read as it grows ({@link BlobFetch.Reader}; the caller closes it).
     */
    public record BlobRead(Served served, BlobFetch.Reader live) {
    }

    /**
     * Makes blob {@code digest} of {@code m} be held here, fetched from the upstream once however
     * many ask for it at the same time; returns once it is all here.
     */
    public Served blob(Mirrored m, Digest digest) {
        return read(m, digest, false).served();
    }

    /**
     * Like {@link #blob}, but a blob still being fetched is given to read as it arrives, so that
     * a client is not kept waiting for all of a large layer before its first byte (a fetch whose
     * upstream declares no length is waited for).
     */
    public BlobRead blobToRead(Mirrored m, Digest digest) {
        return read(m, digest, true);
    }

    private BlobRead read(Mirrored m, Digest digest, boolean live) {
        if (blobs.holds(m.local(), digest)) {
            events.lookup(m.upstream().name(), LookupKind.BLOB, m.local(), true);
            return new BlobRead(Served.HELD, null);
        }
        if (blobs.stored(digest) && linkedAfterAsking(m, digest)) {
            // Held for another repository (a base layer many images share): the upstream says this
            // one has it too, so the copy is linked, not fetched again.
            events.lookup(m.upstream().name(), LookupKind.BLOB, m.local(), true);
            return new BlobRead(Served.HELD, null);
        }
        try {
            return fetched(m, digest, live);
        } finally {
            events.lookup(m.upstream().name(), LookupKind.BLOB, m.local(), false);
        }
    }

    /**
     * Links a blob this node holds to {@code m}'s copy once the upstream confirms, with a
     * {@code HEAD}, that {@code m}'s repository has it: never on the node's word alone, which would
     * tell anyone who may read the mirror what blobs other repositories hold. False when the
     * upstream cannot confirm (the blob is then fetched, or the fetch's error answered).
     */
    private boolean linkedAfterAsking(Mirrored m, Digest digest) {
        try {
            waitIfAsked(m);
            long size = m.upstream().blobSize(m.remote(), digest);
            if (size >= 0 && size != blobs.storedSize(digest)) {
                return false; // the upstream describes other bytes: fetch and verify them
            }
        } catch (UpstreamException e) {
            backoffs.note(m.upstream().name(), e, clock.instant());
            return false;
        }
        return blobs.mount(m.local(), digest, null);
    }

    /** Joins the one fetch of {@code digest} (starting it if none runs): read as it grows, or waited for. */
    private BlobRead fetched(Mirrored m, Digest digest, boolean live) {
        BlobFetch fetch = join(m, digest);
        if (live) {
            long length = await(fetch.started(), m, digest);
            BlobFetch.Reader reader = null;
            if (length >= 0) {
                try {
                    reader = fetch.open(length);
                } catch (IOException e) {
                    throw new RegistryException(ErrorCode.UNAVAILABLE, "cannot read " + digest + " as it arrives: " + e);
                }
            }
            if (reader != null && fetch.done().isCompletedExceptionally()) {
                closeQuietly(reader); // failed meanwhile: its error is answered below, not a body cut short
                reader = null;
            }
            if (reader != null) {
                // Fetched for another mirrored repository: linked to this one once committed.
                fetch.done().thenRun(() -> linkFetched(m, digest));
                return new BlobRead(Served.FETCHED, reader);
            }
        }
        await(fetch.done(), m, digest);
        linkFetched(m, digest);
        return new BlobRead(Served.FETCHED, null);
    }

    private static void closeQuietly(BlobFetch.Reader reader) {
        try {
            reader.close();
        } catch (IOException ignored) {
            // a read-only channel: nothing was lost
        }
    }

    /**
     * A blob fetched for another mirrored repository is linked to {@code m}'s copy: this upstream
     * has it for this one too (its fetch for us would have been the same bytes).
     */
    private void linkFetched(Mirrored m, Digest digest) {
        try {
            if (!blobs.holds(m.local(), digest)) {
                blobs.mount(m.local(), digest, null);
            }
        } catch (RuntimeException e) {
            log.warn("mirror: linking {} to {} failed: {}", digest, m.local(), e.toString());
        }
    }

    /** The fetch running for {@code digest}, or one started now on the fetchers' threads. */
    private BlobFetch join(Mirrored m, Digest digest) {
        BlobFetch mine = new BlobFetch(digest, scratch.resolve("mirror-" + UUID.randomUUID()));
        BlobFetch running = fetching.putIfAbsent(digest, mine);
        if (running != null) {
            return running;
        }
        try {
            fetchers.execute(() -> run(m, mine));
        } catch (RuntimeException e) {
            fetching.remove(digest, mine);
            throw e;
        }
        return mine;
    }

    private void run(Mirrored m, BlobFetch fetch) {
        Digest digest = fetch.digest();
        Throwable failure = null;
        try {
            fetch(m, fetch);
        } catch (Throwable t) {
            failure = t;
            if (t instanceof UpstreamException u) {
                backoffs.note(m.upstream().name(), u, clock.instant());
            }
            // Once per fetch, however many wait for it: an upstream (or a proxy before it)
            // that sends wrong bytes or stalls is the operator's to know; a 404 is the client's.
            if (!(t instanceof UpstreamException u && u.kind() == UpstreamException.Kind.NOT_FOUND)) {
                log.warn("mirror: fetching {} of {} from {} failed: {}", digest, m.remote(), m.upstream().name(),
                        t.getMessage());
            }
        }
        // Tidied before the waiting clients are told: one that asks again at once must start a new
        // fetch (or find the blob held), not join this one, and find no scratch file left.
        fetching.remove(digest, fetch);
        try {
            fetch.removeFile();
        } catch (IOException e) {
            log.warn("mirror: cannot remove {}: {}", fetch.file(), e.toString());
        }
        if (failure == null) {
            fetch.succeeded();
        } else {
            fetch.failed(failure);
        }
    }

    /** Waits for a fetch's step; its failure becomes what the client is told. */
    private <T> T await(CompletableFuture<T> step, Mirrored m, Digest digest) {
        try {
            return step.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RegistryException(ErrorCode.UNAVAILABLE, "interrupted while fetching " + digest);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof UpstreamException u) {
                throw refusal(m, u, ErrorCode.BLOB_UNKNOWN, "blob " + digest);
            }
            if (cause instanceof RegistryException r) {
                throw r;
            }
            throw new RegistryException(ErrorCode.UNAVAILABLE, "fetching " + digest + " from " + m.upstream().name()
                    + " failed: " + cause);
        }
    }

    /**
     * One upstream fetch: to a scratch file, hashed on the way and readable as it grows,
     * committed only when it verifies.
     */
    private void fetch(Mirrored m, BlobFetch fetch) throws UpstreamException, IOException {
        waitIfAsked(m);
        Digest digest = fetch.digest();
        Path file = fetch.file();
        try (Upstream.Body body = m.upstream().blob(m.remote(), digest);
             FileChannel out = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            long declared = body.length();
            if (maxBlobBytes > 0 && declared > maxBlobBytes) {
                throw new RegistryException(ErrorCode.BLOB_TOO_LARGE, digest + " is " + declared
                        + " bytes at " + m.upstream().name() + ", more than this node's max-blob-size");
            }
            fetch.began(declared);
            MessageDigest hash = digest.algorithm().newMessageDigest();
            long size = 0;
            byte[] buffer = new byte[1 << 16];
            try (InputStream in = body.stream()) {
                for (int n; (n = in.read(buffer)) >= 0; ) {
                    size += n;
                    if (maxBlobBytes > 0 && size > maxBlobBytes) {
                        throw new RegistryException(ErrorCode.BLOB_TOO_LARGE, digest + " from " + m.upstream().name()
                                + " is larger than this node's max-blob-size");
                    }
                    if (declared >= 0 && size > declared) {
                        throw new UpstreamException(UpstreamException.Kind.INVALID, 0, m.upstream().name()
                                + " declared " + declared + " bytes for " + digest + " and sent more");
                    }
                    hash.update(buffer, 0, n);
                    ByteBuffer chunk = ByteBuffer.wrap(buffer, 0, n);
                    while (chunk.hasRemaining()) {
                        out.write(chunk);
                    }
                    fetch.wrote(size);
                }
            } catch (IOException e) {
                // A stalled body is a timeout, a broken one an unreachable upstream: both serve stale.
                throw UpstreamClient.failure(m.upstream().name(), "reading " + digest, e);
            }
            Digest got = Digest.of(digest.algorithm(), hash.digest());
            if (!got.equals(digest)) {
                throw new UpstreamException(UpstreamException.Kind.INVALID, 0, m.upstream().name() + " sent "
                        + size + " bytes for " + digest + " that hash to " + got);
            }
            if (declared >= 0 && declared != size) {
                throw new UpstreamException(UpstreamException.Kind.INVALID, 0, m.upstream().name() + " declared "
                        + declared + " bytes for " + digest + " and sent " + size);
            }
            out.close(); // all written: the store takes the file from here
            blobs.commitVerified(m.local(), digest, file, size);
        }
    }

    /** Fails at once while the upstream asked (429 {@code Retry-After}) not to be asked. */
    private void waitIfAsked(Mirrored m) throws UpstreamException {
        UpstreamException wait = backoffs.current(m.upstream().name(), clock.instant());
        if (wait != null) {
            throw wait;
        }
    }

    // ------------------------------------------------------------------ errors

    /** What a client is told when the upstream could not give what it asked and nothing is held. */
    private static RegistryException refusal(Mirrored m, UpstreamException e, ErrorCode unknown, String what) {
        String at = m.upstream().name();
        return switch (e.kind()) {
            case NOT_FOUND -> new RegistryException(unknown, what + " is unknown to " + at);
            case RATE_LIMITED -> new RegistryException(ErrorCode.TOO_MANY_REQUESTS,
                    at + " is limiting this node's requests (429) and " + what + " is not held here yet");
            case DENIED -> new RegistryException(ErrorCode.DENIED,
                    at + " refused this node's credentials for " + m.remote());
            default -> new RegistryException(ErrorCode.UNAVAILABLE, at + " could not give " + what + ": "
                    + e.getMessage());
        };
    }

    @Override
    public void close() {
        fetchers.shutdownNow();
    }
}
