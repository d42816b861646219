package dev.layercache.server.mirror;

import dev.layercache.server.core.RepositoryName;
import dev.layercache.server.metrics.LookupKind;

/**
 * What the mirror tells the metrics (docs/metrics.md, "What counts as a lookup"): its lookups and
 * its stale serves. Its requests to upstreams are told by {@link CountedUpstream}.
 */
public interface MirrorEvents {
    MirrorEvents NONE = new MirrorEvents() {
        @Override
        public void lookup(String upstream, LookupKind kind, RepositoryName copy, boolean hit) {
        }

        @Override
        public void stale(String upstream) {
        }
    };

    /**
     * A tag, a manifest by digest or a blob asked of the mirror of {@code upstream}, told once the
     * mirror has served it or given up. A hit served the copy held here without fetching it: held
     * and fresh, a tag whose {@code HEAD} still names the copy, or a copy served stale. A miss
     * fetched it from the upstream, or tried to and failed with nothing held.
     *
     * @param copy the repository the copy is kept in ({@code docker.io/library/busybox}), which
     *             exists after a hit or a miss that fetched something
     */
    void lookup(String upstream, LookupKind kind, RepositoryName copy, boolean hit);

    /** A copy served although the upstream could not be asked about it (also told as a hit). */
    void stale(String upstream);
}
