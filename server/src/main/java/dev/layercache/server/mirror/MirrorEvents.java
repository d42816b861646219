package dev.layercache.server.mirror;

/**
 * What the mirror tells the metrics: its lookups (a hit when the copy here could serve without
 * fetching) and its stale serves. Requests to upstreams are told by {@link UpstreamClient}.
 */
public interface MirrorEvents {
    MirrorEvents NONE = new MirrorEvents() {
        @Override
        public void lookup(String upstream, boolean hit) {
        }

        @Override
        public void stale(String upstream) {
        }
    };

    /** A manifest or blob asked of a mirror: held here (hit) or fetched (miss). */
    void lookup(String upstream, boolean hit);

    /** A copy served although the upstream could not be asked about it. */
    void stale(String upstream);
}
