package dev.layercache.server.lifecycle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.config.ServerConfig;
import dev.layercache.server.core.Root;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The eviction policy on candidates and settings made up here, without a node, a store or a
 * clock: candidates and settings in, roots out.
 */
class EvictionPolicyTest {
    private static final long HOUR = 3_600_000;
    private static final long NOW = 1_000 * HOUR;

    private static ServerConfig.Lifecycle settings(long maxDiskBytes, Duration maxAge,
                                                   ServerConfig.NamespaceLimit... namespaces) {
        return ServerConfig.Lifecycle.builder().maxDiskBytes(maxDiskBytes).watermarks(90, 50).maxAge(maxAge)
                .minFreeDisk(ServerConfig.DiskShare.NONE).untaggedMaxAge(Duration.ZERO).scrubRate(0)
                .namespaces(List.of(namespaces)).build();
    }

    /** A candidate holding {@code blobsAndSizes} (pairs: blob id, size), every byte freeable. */
    private static Candidate candidate(Root.Kind kind, String repository, String name, long lastUse,
                                       boolean referrer, long... blobsAndSizes) {
        long[] blobs = new long[blobsAndSizes.length / 2];
        long[] sizes = new long[blobs.length];
        for (int i = 0; i < blobs.length; i++) {
            blobs[i] = blobsAndSizes[2 * i];
            sizes[i] = blobsAndSizes[2 * i + 1];
        }
        return new Candidate(new Root(kind, repository, name), lastUse, blobs, sizes, sizes.clone(), referrer);
    }

    private static Candidate tag(String repository, String tag, long lastUse, long... blobsAndSizes) {
        return candidate(Root.Kind.TAG, repository, tag, lastUse, false, blobsAndSizes);
    }

    private static List<String> names(List<Candidate> chosen) {
        return chosen.stream().map(c -> c.root().reference()).toList();
    }

    private static List<String> expired(List<EvictionPolicy.Expired> out, EvictionPolicy.Age rule) {
        return out.stream().filter(e -> e.rule() == rule).map(e -> e.candidate().root().reference()).toList();
    }

    @Test
    void rootsUnusedForLongerThanTheirMaxAgeGoAndANamespaceMayHaveItsOwn() {
        EvictionPolicy policy = new EvictionPolicy(settings(0, Duration.ofHours(10),
                new ServerConfig.NamespaceLimit("ci", 0, Duration.ofHours(1)),
                new ServerConfig.NamespaceLimit("keep", 0, Duration.ZERO)));
        List<Candidate> candidates = List.of(
                tag("app", "old", NOW - 11 * HOUR),
                tag("app", "recent", NOW - 9 * HOUR),
                tag("ci/app", "hour-and-a-half", NOW - 90 * 60_000),
                tag("ci", "fresh", NOW - 30 * 60_000),
                tag("keep/app", "ancient", NOW - 500 * HOUR),
                candidate(Root.Kind.ENTRY, "app", "sha256:e", NOW - 12 * HOUR, false));
        assertTrue(policy.agesApply());
        assertEquals(List.of("app:old", "ci/app:hour-and-a-half", "app sha256:e"),
                expired(policy.byAge(candidates, NOW), EvictionPolicy.Age.MAX_AGE),
                "the node's 10 hours, the ci namespace's hour; a zero max-age there keeps everything");
        assertEquals(List.of(), expired(policy.byAge(candidates, NOW), EvictionPolicy.Age.UNTAGGED_MAX_AGE));
    }

    @Test
    void untaggedManifestsGoAfterTheirOwnAgeUnlessTheyReferToAStoredSubject() {
        EvictionPolicy policy = new EvictionPolicy(settings(0, Duration.ZERO)
                .withUntaggedMaxAge(Duration.ofHours(24)));
        List<Candidate> candidates = List.of(
                candidate(Root.Kind.MANIFEST, "app", "sha256:old", NOW - 25 * HOUR, false),
                candidate(Root.Kind.MANIFEST, "app", "sha256:young", NOW - 23 * HOUR, false),
                candidate(Root.Kind.MANIFEST, "app", "sha256:signature", NOW - 100 * HOUR, true),
                tag("app", "latest", NOW - 100 * HOUR),
                candidate(Root.Kind.ENTRY, "app", "sha256:entry", NOW - 100 * HOUR, false));
        assertTrue(policy.agesApply());
        List<EvictionPolicy.Expired> out = policy.byAge(candidates, NOW);
        assertEquals(List.of("app@sha256:old"), expired(out, EvictionPolicy.Age.UNTAGGED_MAX_AGE),
                "tags and entries are not untagged manifests; a signature lives as long as its image");
        assertEquals(List.of(), expired(out, EvictionPolicy.Age.MAX_AGE), "no max-age: nothing else goes by age");
    }

    @Test
    void withoutAnyAgeNothingGoesByAge() {
        EvictionPolicy policy = new EvictionPolicy(settings(1000, Duration.ZERO,
                new ServerConfig.NamespaceLimit("team", 500, null)));
        assertFalse(policy.agesApply());
        assertEquals(List.of(), policy.byAge(List.of(tag("app", "ancient", 0)), NOW));
    }

    @Test
    void aNamespaceOverItsOwnBudgetLosesItsLeastRecentlyUsedRootsDownToItsLowWatermark() {
        // team: 1,000 bytes, high 90% (900), low 50% (500). Its roots hold 1,000 bytes, the shared
        // blob 7 counted once.
        EvictionPolicy policy = new EvictionPolicy(settings(0, Duration.ZERO,
                new ServerConfig.NamespaceLimit("team", 1000, null),
                new ServerConfig.NamespaceLimit("small", 10_000, null)));
        List<Candidate> candidates = List.of(
                tag("team/app", "v3", 30, 3, 300, 7, 100),
                tag("team/app", "v1", 10, 1, 300, 7, 100),
                tag("team/lib", "v2", 20, 2, 300),
                tag("other", "huge", 1, 9, 1_000_000),
                tag("small/app", "v1", 1, 8, 100));
        assertTrue(policy.anyNamespaceBudget());
        assertEquals(List.of("team/app:v1", "team/lib:v2"), names(policy.overNamespaceBudgets(candidates)),
                "1,000 bytes past 900: free 500, oldest first; other namespaces are not touched");
        assertEquals(List.of(), names(policy.overNamespaceBudgets(candidates.subList(0, 2))),
                "700 bytes: under the high watermark");
        assertFalse(new EvictionPolicy(settings(1000, Duration.ZERO)).anyNamespaceBudget());
    }

    @Test
    void theNodeBudgetFreesLeastRecentlyUsedRootsAndSkipsWhatClientsWereJustToldExists() {
        Candidate asked = new Candidate(new Root(Root.Kind.TAG, "app", "asked"), 5, new long[] {5},
                new long[] {400}, new long[] {0}, false);
        List<Candidate> candidates = List.of(
                tag("app", "newest", 40, 4, 100),
                asked,
                tag("app", "old", 10, 1, 100),
                tag("app", "older", 9, 2, 100));
        assertEquals(List.of("app:older", "app:old"), names(EvictionPolicy.toFree(candidates, 150)),
                "the root whose blob a client was just told exists frees nothing: not evicted");
        assertEquals(List.of(), EvictionPolicy.toFree(candidates, 0));
    }

    @Test
    void theBudgetIsMaxDiskSizeLoweredToKeepMinFreeDiskFree() {
        ServerConfig.Lifecycle base = settings(0, Duration.ZERO);
        long fs = 1_000_000;
        Budget share = new EvictionPolicy(base.withMaxDisk(ServerConfig.DiskShare.ofPercent(60)))
                .budget(100_000, fs, 800_000);
        assertEquals(new Budget(600_000, 540_000, 300_000, 600_000, fs, 800_000, 0, false), share,
                "60% of the file system; eviction from 90% of it down to 50%");

        Budget floor = new EvictionPolicy(base.withMaxDisk(ServerConfig.DiskShare.ofPercent(60))
                .withMinFreeDisk(ServerConfig.DiskShare.ofPercent(10))).budget(100_000, fs, 150_000);
        assertEquals(150_000, floor.maxBytes(), "blobs may have what they hold plus what is free above 10%");
        assertTrue(floor.limitedByFreeSpace());
        assertEquals(100_000, floor.minFreeBytes());

        Budget none = new EvictionPolicy(base).budget(5, fs, 10);
        assertEquals(0, none.maxBytes(), "no max-disk-size and no floor: no budget");
        assertFalse(none.limitedByFreeSpace());
        assertEquals(1, new EvictionPolicy(base.withMinFreeDisk(ServerConfig.DiskShare.ofBytes(500_000)))
                .budget(0, fs, 100).maxBytes(), "a disk already past its floor: the smallest budget there is");
    }
}
