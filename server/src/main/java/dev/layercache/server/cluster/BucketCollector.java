package dev.layercache.server.cluster;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.layercache.api.v1.Entry;
import dev.layercache.api.v1.LayerDescriptor;
import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.core.Digest;
import dev.layercache.server.lifecycle.ProtectedRefs;
import dev.layercache.server.metadata.BuildIndex;
import dev.layercache.server.metadata.Keys;
import dev.layercache.server.metadata.ManifestIndex;
import dev.layercache.server.metadata.Table;
import dev.layercache.server.registry.ManifestService;
import dev.layercache.server.storage.ObjectStore;
import dev.layercache.server.storage.ObjectStore.ObjectInfo;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the shared bucket within its budget and age limit, on one node at a time (the holder of
 * {@link Lease}), without ever breaking a root.
 *
 * <p>A run lists the bucket's blobs and roots (tags, cache entries, manifests no tag or index
 * names), evicts roots unused for longer than {@code maxAge} and, over budget, the least recently
 * used ones until usage would fall below the low watermark. A root's last use is the later of
 * when it was written and its newest access mark ({@code access/...}, which nodes write at most
 * every few minutes per root they serve, see {@link AccessMarks}). Tags the {@code protect}
 * patterns name ({@link ProtectedRefs}, the same as a single node's eviction) are never evicted,
 * neither by age nor by budget; what they reach stays with them.
 *
 * <p>Blobs no root reaches are removed in two steps, {@code gcGrace} apart: a run marks such a
 * blob pending ({@code gc/pending/<digest>}), and a later run deletes it if it is still pending
 * and still unreached. A node that publishes a root naming a pending blob first revives it
 * (deletes the pending mark, see {@link Revival}). This is why no bucket lifecycle rule is needed
 * (moby/buildkit#3686): a blob goes only after it has been unreferenced through two runs and
 * nobody has asked for it since.
 *
 * <p>A check of the mark followed by a delete is not enough: a revival landing between the two
 * would be lost, and the publication would name a blob deleted a moment later (the same window
 * as distribution/distribution#3743 between a node's own check and commit, here between nodes).
 * A bucket has no transaction spanning two objects, and a conditional delete would guard the
 * blob on its own ETag, which a publication does not change. So the deletion is announced first:
 * <ol>
 *   <li>the collector writes a claim, {@code gc/sweeping/<digest>};
 *   <li>then checks the pending mark once more, and if it is gone (revived), removes its claim
 *       and keeps the blob;
 *   <li>otherwise deletes the blob's links, record and bytes, then the mark, then the claim.
 * </ol>
 * A reviving publisher does the mirror image: it deletes the mark, then looks for a claim
 * ({@link Revival#revive}). With read-after-write consistency (S3 since 2020, MinIO, Ceph), at
 * least one side sees the other: if the collector's second look still finds the mark, the
 * publisher's deletion of it came later, and so did its look for the claim, which it then finds.
 * A publisher that finds a claim waits for it to go, then looks whether the bytes survived; if
 * not, its node forgets what it cached about the blob, and the publication proceeds on the truth:
 * a push uploads the bytes again, a mount or a manifest naming the blob is refused as unknown.
 * Either way no root names a blob that is gone. (Harbor's collector has the same shape, with a
 * "deleting" status in its database where this has an object.)
 *
 * <p>The claim bounds the collector, not the publisher: a collector deletes for at most
 * {@link #SWEEP_LIMIT} after writing it and stops, removing its claim, when the time or its
 * lease runs out; a publisher that sees the same claim for longer than
 * {@link Revival#ABANDONED_AFTER} takes its collector for dead. A claim is left behind only when
 * a request failed (an unanswered delete might still land later) or the node died; the next run
 * removes those, and the pending mark makes it decide afresh.
 *
 * <p>Why one file of over 500 lines: a run is one protocol with other nodes (lease, marks,
 * claims, revivals) whose safety argument is the comment above; its steps (listing roots,
 * evicting, marking, sweeping, pruning history) share the run's listings and are checked against
 * that argument together. The other side of the protocol is {@link Revival}, the lease {@link Lease}.
 */
public final class BucketCollector {
    private static final Logger log = LoggerFactory.getLogger(BucketCollector.class);
    static final String PENDING = "gc/pending/";
    /** A collector's claim that it is deleting a blob (see the class comment). */
    static final String SWEEPING = "gc/sweeping/";
    /** How long a collector goes on deleting one blob's objects after claiming it. */
    static final Duration SWEEP_LIMIT = Duration.ofSeconds(15);
    static final String ACCESS = "access/";
    private static final int PAGE = 1000;

    /**
     * The bucket's limits; zero for none.
     *
     * @param history       how much history (tombstones, step publications) each repository keeps
     * @param uploadTimeout directory records of upload sessions older than this are removed
     *                      (their node died with them; a live node removes its own)
     * @param protect       the {@code protect} setting: {@code repository:tag} patterns of tags
     *                      never evicted (see {@link ProtectedRefs})
     */
    public record Limits(long maxBytes, int highPercent, int lowPercent, Duration maxAge, Duration gcGrace,
                         ServerConfig.History history, Duration uploadTimeout, List<String> protect) {
        public Limits {
            protect = List.copyOf(protect);
        }
    }

    /**
     * What one run did.
     *
     * @param rootsProtected the tags in the bucket that {@code protect} names, which eviction skipped
     * @param historyPruned tombstones, step publications, access marks of roots gone and stale
     *                      upload records removed from the bucket
     */
    public record Report(boolean ran, long blobs, long bytesBefore, int rootsEvicted, int rootsProtected,
                         int markedPending, int deleted, long bytesDeleted, int revived, long historyPruned,
                         long millis) {
        static final Report SKIPPED = new Report(false, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    }

    private final ObjectStore bucket;
    private final ManifestService manifests;
    private final Lease lease;
    private final Limits limits;
    private final ProtectedRefs protect;
    private final Clock clock;
    private volatile Report last = Report.SKIPPED;
    // Per run: how many tags name each manifest object, and which manifests an index names.
    private final Map<String, Integer> tagsNaming = new HashMap<>();
    private final Set<String> namedByIndex = new HashSet<>();

    public BucketCollector(ObjectStore bucket, ManifestService manifests, Lease lease, Limits limits, Clock clock) {
        this.bucket = bucket;
        this.manifests = manifests;
        this.lease = lease;
        this.limits = limits;
        this.protect = new ProtectedRefs(limits.protect());
        this.clock = clock;
    }

    public Report last() {
        return last;
    }

    /** One run, if this node holds (or can take) the lease. */
    public synchronized Report run() throws IOException {
        if (!lease.acquire()) {
            return Report.SKIPPED;
        }
        long started = System.nanoTime();
        long now = clock.millis();
        Map<Digest, ObjectInfo> blobs = new HashMap<>();
        forEachObject("blobs/", o -> {
            String text = o.key().substring("blobs/".length()).replace('/', ':');
            if (Digest.isValid(text)) {
                blobs.put(Digest.parse(text), o);
            }
        });
        long bytesBefore = blobs.values().stream().mapToLong(ObjectInfo::size).sum();
        Map<String, Long> accessed = new HashMap<>();
        forEachObject(ACCESS, o -> accessed.put("meta/" + o.key().substring(ACCESS.length()), o.lastModifiedMillis()));

        List<RootInfo> roots = roots(accessed);
        int evicted = evict(roots, blobs, now);
        Set<Digest> reached = new HashSet<>();
        for (RootInfo r : roots) {
            if (!r.evicted) {
                reached.addAll(r.references);
            }
        }

        // Step two of earlier runs' marks: delete what is still pending and unreached.
        int deleted = 0;
        int revived = 0;
        long bytesDeleted = 0;
        removeAbandonedClaims(now);
        Set<Digest> pending = new HashSet<>();
        List<ObjectInfo> marks = new ArrayList<>();
        forEachObject(PENDING, marks::add);
        Map<Digest, List<String>> links = null;
        for (ObjectInfo mark : marks) {
            String text = mark.key().substring(PENDING.length());
            if (!Digest.isValid(text)) {
                bucket.delete(mark.key());
                continue;
            }
            Digest d = Digest.parse(text);
            if (reached.contains(d) || !blobs.containsKey(d)) {
                bucket.delete(mark.key());
                revived++;
                continue;
            }
            pending.add(d);
            if (now - mark.lastModifiedMillis() < limits.gcGrace().toMillis() || !lease.held()) {
                continue;
            }
            if (links == null) {
                links = links();
            }
            List<String> objects = new ArrayList<>(links.getOrDefault(d, List.of()));
            objects.add(MetaKeys.object(Table.BLOBS, Keys.utf8(d.toString())));
            objects.add(TieredBlobBackend.object(d));
            switch (sweep(d, mark.key(), objects)) {
                case REVIVED -> {
                    revived++; // a publication revived it since the listing
                    pending.remove(d);
                }
                case DELETED -> {
                    deleted++;
                    bytesDeleted += blobs.get(d).size();
                    // Left in the set: step one must not mark what is gone (it was in the listing).
                }
                case STOPPED -> {
                    // Out of time or lease: still pending, the next run decides again.
                }
            }
        }
        // Step one: mark what no root reaches and is past its grace.
        int markedPending = 0;
        for (Map.Entry<Digest, ObjectInfo> b : blobs.entrySet()) {
            Digest d = b.getKey();
            if (!reached.contains(d) && !pending.contains(d)
                    && now - b.getValue().lastModifiedMillis() >= limits.gcGrace().toMillis()) {
                bucket.put(PENDING + d, new byte[0]);
                markedPending++;
            }
        }
        long pruned = pruneHistory(now, accessed.keySet(), roots);
        int kept = (int) roots.stream().filter(r -> r.isProtected).count();
        Report report = new Report(true, blobs.size(), bytesBefore, evicted, kept, markedPending, deleted,
                bytesDeleted, revived, pruned, (System.nanoTime() - started) / 1_000_000);
        last = report;
        log.info("bucket collection: {} blobs ({} bytes), {} roots evicted ({} protected kept), {} blobs marked"
                        + " pending, {} deleted ({} bytes), {} revived, {} history records pruned, in {} ms",
                blobs.size(), bytesBefore, evicted, kept, markedPending, deleted, bytesDeleted, revived, pruned,
                report.millis());
        return report;
    }

    private enum Swept { REVIVED, DELETED, STOPPED }

    /**
     * Deletes {@code objects} (the blob's links, record and bytes, in that order: a crash half-way
     * leaves unlinked bytes, never a link to nothing) unless the blob was revived; see the class
     * comment for why the claim comes before the last look at the mark.
     */
    private Swept sweep(Digest digest, String mark, List<String> objects) throws IOException {
        String claim = SWEEPING + digest;
        bucket.put(claim, (UUID.randomUUID() + " " + clock.instant()).getBytes(StandardCharsets.UTF_8));
        long claimed = System.nanoTime();
        // Removed on every way out but a failed request: a delete whose answer was lost may still
        // land, and publishers must keep waiting for it (a later run removes the claim).
        boolean answered = false;
        try {
            Swept result = Swept.DELETED;
            if (bucket.size(mark) < 0) {
                result = Swept.REVIVED;
            } else {
                for (String object : objects) {
                    if (System.nanoTime() - claimed > SWEEP_LIMIT.toNanos() || !lease.held()) {
                        log.warn("bucket collection: stopped deleting {} after {} ms (lease held: {}); it stays"
                                + " pending", digest, (System.nanoTime() - claimed) / 1_000_000, lease.held());
                        result = Swept.STOPPED;
                        break;
                    }
                    bucket.delete(object);
                }
                if (result == Swept.DELETED) {
                    bucket.delete(mark);
                }
            }
            answered = true;
            return result;
        } finally {
            if (answered) {
                bucket.delete(claim);
            }
        }
    }

    /**
     * Claims left by a collector whose request failed or whose node died. Old enough that their
     * collector has long stopped ({@link #SWEEP_LIMIT}) and publishers have stopped waiting for
     * them, even with the bucket's clock and this node's apart by a minute.
     */
    private void removeAbandonedClaims(long now) throws IOException {
        long old = Revival.ABANDONED_AFTER.plus(Duration.ofMinutes(1)).toMillis();
        List<ObjectInfo> claims = new ArrayList<>();
        forEachObject(SWEEPING, claims::add);
        for (ObjectInfo claim : claims) {
            if (now - claim.lastModifiedMillis() > old && lease.held()) {
                log.info("bucket collection: removing the abandoned claim {}", claim.key());
                bucket.delete(claim.key());
            }
        }
    }

    /**
     * The bucket's share of {@code MetadataPruner}'s work, each record being an object here:
     * tombstones, step publications, build records and cache exports past the history bounds (by age, then the oldest of each
     * repository past the count), access marks of roots that are gone, and directory records of
     * upload sessions older than the upload timeout (their node died; a live node removes its own).
     */
    private long pruneHistory(long now, Set<String> accessedRoots, List<RootInfo> roots) throws IOException {
        long pruned = 0;
        long cutoff = limits.history().maxAge().isZero() ? Long.MIN_VALUE : now - limits.history().maxAge().toMillis();
        for (Table table : new Table[] {Table.TOMBSTONES, Table.STEPS, Table.BUILDS, Table.EXPORTS}) {
            Map<String, List<ObjectInfo>> byRepository = new HashMap<>();
            List<ObjectInfo> expired = new ArrayList<>();
            forEachObject(MetaKeys.object(table, new byte[0]), o -> {
                if (o.lastModifiedMillis() < cutoff) {
                    expired.add(o);
                } else {
                    String key = Keys.string(MetaKeys.key(table, o.key()));
                    byRepository.computeIfAbsent(key.substring(0, Math.max(0, key.indexOf('\0'))),
                            r -> new ArrayList<>()).add(o);
                }
            });
            int max = limits.history().maxPerRepository();
            if (table == Table.BUILDS || table == Table.EXPORTS) {
                max = max > 0 ? Math.min(max, BuildIndex.MAX_PER_REPOSITORY)
                        : BuildIndex.MAX_PER_REPOSITORY;
            }
            for (List<ObjectInfo> records : byRepository.values()) {
                if (max > 0 && records.size() > max) {
                    records.sort(Comparator.comparingLong(ObjectInfo::lastModifiedMillis));
                    expired.addAll(records.subList(0, records.size() - max));
                }
            }
            for (ObjectInfo o : expired) {
                if (!lease.held()) {
                    return pruned;
                }
                bucket.delete(o.key());
                pruned++;
            }
        }
        Set<String> live = new HashSet<>();
        for (RootInfo r : roots) {
            if (!r.evicted) {
                live.add(r.object);
                if (r.target != null) {
                    live.add(r.target);
                }
            }
        }
        for (String root : accessedRoots) {
            if (!live.contains(root) && bucket.size(root) < 0 && lease.held()) {
                bucket.delete(ACCESS + root.substring("meta/".length()));
                pruned++;
            }
        }
        List<ObjectInfo> stale = new ArrayList<>();
        forEachObject(ClusterUploads.object(""), o -> {
            if (now - o.lastModifiedMillis() > limits.uploadTimeout().toMillis()) {
                stale.add(o);
            }
        });
        for (ObjectInfo o : stale) {
            if (lease.held()) {
                bucket.delete(o.key());
                pruned++;
            }
        }
        return pruned;
    }

    /** A root in the bucket, what it references and when it was last used. */
    private static final class RootInfo {
        final String object;
        final long lastUse;
        final Set<Digest> references;
        /** For a tag: the manifest object it names, which goes with its last tag. */
        final String target;
        /** A tag the {@code protect} patterns name: never evicted. */
        final boolean isProtected;
        boolean evicted;

        RootInfo(String object, long lastUse, Set<Digest> references, String target) {
            this(object, lastUse, references, target, false);
        }

        RootInfo(String object, long lastUse, Set<Digest> references, String target, boolean isProtected) {
            this.object = object;
            this.lastUse = lastUse;
            this.references = references;
            this.target = target;
            this.isProtected = isProtected;
        }
    }

    private List<RootInfo> roots(Map<String, Long> accessed) throws IOException {
        List<RootInfo> roots = new ArrayList<>();
        // Manifests first: tags and indexes point at them.
        Map<String, ObjectInfo> manifestObjects = new HashMap<>();
        forEachObject("meta/manifests/", o -> manifestObjects.put(o.key(), o));
        Set<String> named = new HashSet<>();
        tagsNaming.clear();
        namedByIndex.clear();
        Map<String, Set<Digest>> manifestRefs = new HashMap<>();
        for (ObjectInfo o : manifestObjects.values()) {
            byte[] key = MetaKeys.key(Table.MANIFESTS, o.key());
            String digest = Keys.lastPart(key);
            byte[] value = Digest.isValid(digest) ? bucket.get(o.key()) : null;
            if (value == null) {
                continue;
            }
            Set<Digest> refs = new HashSet<>(manifests.references(ManifestIndex.decode(Digest.parse(digest), value)));
            manifestRefs.put(o.key(), refs);
            String repo = Keys.string(key).substring(0, Keys.string(key).indexOf('\0'));
            for (Digest child : refs) {
                named.add(MetaKeys.object(Table.MANIFESTS, Keys.of(repo, child.toString())));
                namedByIndex.add(MetaKeys.object(Table.MANIFESTS, Keys.of(repo, child.toString())));
            }
        }
        List<ObjectInfo> tags = new ArrayList<>();
        forEachObject("meta/tags/", tags::add);
        for (ObjectInfo o : tags) {
            byte[] value = bucket.get(o.key());
            if (value == null) {
                continue;
            }
            String[] repoAndTag = Keys.split(MetaKeys.key(Table.TAGS, o.key()));
            String repo = repoAndTag[0];
            String manifest = MetaKeys.object(Table.MANIFESTS, Keys.of(repo, Keys.string(value)));
            named.add(manifest);
            Set<Digest> refs = new HashSet<>(manifestRefs.getOrDefault(manifest, Set.of()));
            addChildren(manifest, repo, manifestRefs, refs);
            boolean isProtected = repoAndTag.length == 2 && !protect.isEmpty()
                    && protect.protectsTag(repo, repoAndTag[1]);
            roots.add(new RootInfo(o.key(), lastUse(o, accessed), refs, manifest, isProtected));
            tagsNaming.merge(manifest, 1, Integer::sum);
        }
        for (ObjectInfo o : manifestObjects.values()) {
            if (!named.contains(o.key()) && manifestRefs.containsKey(o.key())) {
                String repo = Keys.string(MetaKeys.key(Table.MANIFESTS, o.key())).split("\0", 2)[0];
                Set<Digest> refs = new HashSet<>(manifestRefs.get(o.key()));
                addChildren(o.key(), repo, manifestRefs, refs);
                roots.add(new RootInfo(o.key(), lastUse(o, accessed), refs, null));
            }
        }
        List<ObjectInfo> entries = new ArrayList<>();
        forEachObject("meta/entries/", entries::add);
        for (ObjectInfo o : entries) {
            byte[] value = bucket.get(o.key());
            if (value == null) {
                continue;
            }
            Set<Digest> refs = new HashSet<>();
            try {
                for (LayerDescriptor layer : Entry.parseFrom(value).getLayersList()) {
                    if (Digest.isValid(layer.getDigest())) {
                        refs.add(Digest.parse(layer.getDigest()));
                    }
                }
            } catch (InvalidProtocolBufferException e) {
                log.warn("unreadable entry record {} in the bucket", o.key());
                continue;
            }
            roots.add(new RootInfo(o.key(), lastUse(o, accessed), refs, null));
        }
        return roots;
    }

    /** An index's manifests' own references (one level: indexes of indexes are rare). */
    private static void addChildren(String manifest, String repo, Map<String, Set<Digest>> manifestRefs,
                                    Set<Digest> into) {
        for (Digest child : manifestRefs.getOrDefault(manifest, Set.of())) {
            into.addAll(manifestRefs.getOrDefault(MetaKeys.object(Table.MANIFESTS, Keys.of(repo, child.toString())),
                    Set.of()));
        }
    }

    private static long lastUse(ObjectInfo o, Map<String, Long> accessed) {
        return Math.max(o.lastModifiedMillis(), accessed.getOrDefault(o.key(), 0L));
    }

    /**
     * Evicts by age, then by budget (least recently used first), never a protected tag; returns
     * how many roots went.
     */
    private int evict(List<RootInfo> roots, Map<Digest, ObjectInfo> blobs, long now) throws IOException {
        int evicted = 0;
        long maxAge = limits.maxAge().toMillis();
        if (maxAge > 0) {
            for (RootInfo r : roots) {
                if (!r.isProtected && now - r.lastUse > maxAge && lease.held()) {
                    evicted += remove(r);
                }
            }
        }
        if (limits.maxBytes() <= 0) {
            return evicted;
        }
        // Reference counts over the remaining roots: evicting one frees the blobs only it held.
        Map<Digest, Integer> counts = new HashMap<>();
        for (RootInfo r : roots) {
            if (!r.evicted) {
                r.references.forEach(d -> counts.merge(d, 1, Integer::sum));
            }
        }
        long reachable = 0;
        for (Map.Entry<Digest, Integer> c : counts.entrySet()) {
            ObjectInfo o = blobs.get(c.getKey());
            reachable += o == null ? 0 : o.size();
        }
        if (reachable <= limits.maxBytes() / 100 * limits.highPercent()) {
            return evicted;
        }
        long low = limits.maxBytes() / 100 * limits.lowPercent();
        List<RootInfo> byAge = new ArrayList<>(roots);
        byAge.sort(Comparator.comparingLong(r -> r.lastUse));
        for (RootInfo r : byAge) {
            if (reachable <= low || !lease.held()) {
                break;
            }
            if (r.evicted || r.isProtected) {
                continue;
            }
            evicted += remove(r);
            for (Digest d : r.references) {
                if (counts.merge(d, -1, Integer::sum) == 0) {
                    ObjectInfo o = blobs.get(d);
                    reachable -= o == null ? 0 : o.size();
                }
            }
        }
        if (reachable > low && lease.held()) {
            warnIfProtectedAlone(roots, blobs, low);
        }
        return evicted;
    }

    /**
     * Once per run, when the bucket stays over the low watermark because the protected tags alone
     * hold more than it (in the words of the single node's {@code Lifecycle}): only removing or
     * unprotecting tags brings it back, which an operator must hear of.
     */
    private void warnIfProtectedAlone(List<RootInfo> roots, Map<Digest, ObjectInfo> blobs, long low) {
        Set<Digest> held = new HashSet<>();
        for (RootInfo r : roots) {
            if (r.isProtected) {
                held.addAll(r.references);
            }
        }
        long bytes = 0;
        for (Digest d : held) {
            ObjectInfo o = blobs.get(d);
            bytes += o == null ? 0 : o.size();
        }
        if (bytes > low) {
            log.warn("bucket: the roots of protect ({}) alone hold {} bytes of blobs, over the low watermark of"
                    + " s3-max-size ({} bytes): they are not evicted, and the bucket stays over its budget",
                    String.join(",", protect.patterns()), bytes, low);
        }
    }

    private int remove(RootInfo r) throws IOException {
        bucket.delete(r.object);
        bucket.delete(ACCESS + r.object.substring("meta/".length()));
        r.evicted = true;
        if (r.target != null && tagsNaming.merge(r.target, -1, Integer::sum) == 0 && !namedByIndex.contains(r.target)) {
            // The manifest's last tag went: it goes too, rather than living on as an untagged root.
            bucket.delete(r.target);
            bucket.delete(ACCESS + r.target.substring("meta/".length()));
        }
        log.info("bucket: evicted {}", r.object);
        return 1;
    }

    /** Every repository link in the bucket, by digest (one listing, for the deletions of a run). */
    private Map<Digest, List<String>> links() throws IOException {
        Map<Digest, List<String>> out = new HashMap<>();
        forEachObject("meta/links/", o -> {
            String digest = Keys.lastPart(MetaKeys.key(Table.LINKS, o.key()));
            if (Digest.isValid(digest)) {
                out.computeIfAbsent(Digest.parse(digest), k -> new ArrayList<>()).add(o.key());
            }
        });
        return out;
    }

    private void forEachObject(String prefix, Consumer<ObjectInfo> action) throws IOException {
        String after = null;
        while (true) {
            List<ObjectInfo> page = bucket.listObjects(prefix, after, PAGE);
            page.forEach(action);
            if (page.size() < PAGE) {
                return;
            }
            after = page.get(page.size() - 1).key();
        }
    }
}
