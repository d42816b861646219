package dev.layercache.server.lifecycle;

import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.core.Root;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Which roots to evict, decided from the candidates and the settings alone: no store, no clock,
 * no thread. The lifecycle reads the candidates, asks, and evicts what it is told, in the order
 * given; every rule of eviction is here, where a test can give it made-up roots.
 * <ul>
 *   <li>{@link #byAge}: roots unused for longer than their {@code max-age} (a namespace's own, or
 *       the node's), and untagged manifests that nothing names, unused for longer than
 *       {@code untagged-max-age}.
 *   <li>{@link #overNamespaceBudgets}: in a namespace with a budget of its own whose roots' blobs
 *       (shared blobs counted once) pass its high watermark, the least recently used roots whose
 *       removal frees bytes, until it is under its low one.
 *   <li>{@link #toFree}: the least recently used roots whose removal frees bytes, until about as
 *       many bytes as asked would be freed ({@link EvictionPlan}).
 *   <li>{@link #budget}: the node's budget in force, from {@code max-disk-size},
 *       {@code min-free-disk} and what the file system says.
 * </ul>
 */
final class EvictionPolicy {
    /** Why a root goes by age. */
    enum Age { MAX_AGE, UNTAGGED_MAX_AGE }

    /** A root that goes by age, and which rule sent it. */
    record Expired(Candidate candidate, Age rule) {
    }

    private final ServerConfig.Lifecycle settings;

    EvictionPolicy(ServerConfig.Lifecycle settings) {
        this.settings = settings;
    }

    /** Whether any age rule is set: without one, {@link #byAge} never evicts (so the roots need not be read). */
    boolean agesApply() {
        return !settings.maxAge().isZero() || !settings.untaggedMaxAge().isZero()
                || settings.namespaces().stream().anyMatch(l -> l.maxAge() != null && !l.maxAge().isZero());
    }

    /**
     * The roots past their max-age at {@code nowMillis}, and the untagged manifests past
     * untagged-max-age that are not referrers of a stored subject, in the order of
     * {@code candidates}.
     */
    List<Expired> byAge(List<Candidate> candidates, long nowMillis) {
        boolean untaggedAge = !settings.untaggedMaxAge().isZero();
        List<Expired> out = new ArrayList<>();
        for (Candidate c : candidates) {
            ServerConfig.NamespaceLimit limit = settings.limitFor(c.root().repository());
            Duration maxAge = limit != null && limit.maxAge() != null ? limit.maxAge() : settings.maxAge();
            if (!maxAge.isZero() && c.lastUse() < nowMillis - maxAge.toMillis()) {
                out.add(new Expired(c, Age.MAX_AGE));
            } else if (untaggedAge && c.root().kind() == Root.Kind.MANIFEST && !c.referrerOfStoredSubject()
                    && c.lastUse() < nowMillis - settings.untaggedMaxAge().toMillis()) {
                out.add(new Expired(c, Age.UNTAGGED_MAX_AGE));
            }
        }
        return out;
    }

    /** Whether any namespace has a budget of its own (without one, {@link #overNamespaceBudgets} evicts nothing). */
    boolean anyNamespaceBudget() {
        return settings.namespaces().stream().anyMatch(l -> l.maxDiskBytes() > 0);
    }

    /**
     * For each namespace with a budget of its own (in the order configured) whose roots' blobs
     * pass its high watermark: its least recently used roots whose removal frees bytes, until it
     * would be under its low one. {@code candidates} must have been read with their blobs.
     */
    List<Candidate> overNamespaceBudgets(List<Candidate> candidates) {
        List<ServerConfig.NamespaceLimit> budgeted = settings.namespaces().stream()
                .filter(l -> l.maxDiskBytes() > 0).toList();
        if (budgeted.isEmpty()) {
            return List.of();
        }
        Map<String, List<Candidate>> byNamespace = new HashMap<>();
        for (Candidate c : candidates) {
            ServerConfig.NamespaceLimit limit = settings.limitFor(c.root().repository());
            if (limit != null && limit.maxDiskBytes() > 0) {
                byNamespace.computeIfAbsent(limit.prefix(), p -> new ArrayList<>()).add(c);
            }
        }
        List<Candidate> out = new ArrayList<>();
        for (ServerConfig.NamespaceLimit limit : budgeted) {
            List<Candidate> roots = byNamespace.getOrDefault(limit.prefix(), List.of());
            long total = distinctBytes(roots);
            if (total > limit.maxDiskBytes() / 100 * settings.highPercent()) {
                out.addAll(toFree(roots, total - limit.maxDiskBytes() / 100 * settings.lowPercent()));
            }
        }
        return out;
    }

    /**
     * The least recently used roots whose removal frees bytes, least recently used first, until
     * about {@code bytes} would be freed (see {@link EvictionPlan}); none when {@code bytes <= 0}.
     */
    static List<Candidate> toFree(List<Candidate> candidates, long bytes) {
        List<EvictionPlan.Root> plan = new ArrayList<>(candidates.size());
        for (Candidate c : candidates) {
            plan.add(new EvictionPlan.Root(c, c.lastUse(), c.blobs(), c.freeable()));
        }
        List<Candidate> out = new ArrayList<>();
        for (EvictionPlan.Root chosen : EvictionPlan.choose(plan, bytes)) {
            out.add((Candidate) chosen.id());
        }
        return out;
    }

    /**
     * The budget in force while blobs take {@code blobBytes} on a file system of
     * {@code fileSystemBytes} with {@code freeBytes} free (both 0 when unknown):
     * {@code max-disk-size}, or less when the file system would otherwise keep less than
     * {@code min-free-disk} free. Blob bytes plus free bytes is what blobs could occupy, whatever
     * else the file system holds.
     */
    Budget budget(long blobBytes, long fileSystemBytes, long freeBytes) {
        long configured = settings.maxDisk().resolve(fileSystemBytes);
        long minFree = settings.minFreeDisk().resolve(fileSystemBytes);
        long max = configured;
        boolean byFreeSpace = false;
        if (minFree > 0 && fileSystemBytes > 0) {
            long room = Math.max(1, blobBytes + freeBytes - minFree);
            if (max == 0 || room < max) {
                max = room;
                byFreeSpace = true;
            }
        }
        return new Budget(max, max / 100 * settings.highPercent(), max / 100 * settings.lowPercent(), configured,
                fileSystemBytes, freeBytes, minFree, byFreeSpace);
    }

    private static long distinctBytes(List<Candidate> roots) {
        Map<Long, Long> sizes = new HashMap<>();
        for (Candidate c : roots) {
            for (int i = 0; i < c.blobs().length; i++) {
                sizes.put(c.blobs()[i], c.sizes()[i]);
            }
        }
        return sizes.values().stream().mapToLong(Long::longValue).sum();
    }
}
