package dev.layercache.loadtest;

import dev.layercache.client.CacheKey;
import dev.layercache.client.Digest;
import java.util.List;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * What the builders of one run of one protocol share: the configuration, the workload, which
 * keys have been looked up, and what was published (for tests and people to check on the
 * server afterwards).
 */
final class FleetRun {
    final FleetConfig config;
    final Protocol protocol;
    final FleetWorkload workload;
    private final Set<CacheKey> lookedUp = ConcurrentHashMap.newKeySet();
    private final Queue<Publication> publications = new ConcurrentLinkedQueue<>();

    /**
     * A step result the fleet published.
     *
     * @param namespace the namespace (repository) it went to
     * @param reference where it is: the tag (buildah, BuildKit) or the key (gRPC)
     * @param key the step's key
     * @param layer its layer's digest
     */
    record Publication(String namespace, String reference, CacheKey key, Digest layer) {
    }

    FleetRun(FleetConfig config, Protocol protocol) {
        this.config = config;
        this.protocol = protocol;
        this.workload = new FleetWorkload(config);
    }

    String namespace(int project) {
        return config.namespace(protocol, project);
    }

    /** Whether this is the run's first lookup of {@code key}; ask before sending it. */
    boolean firstLookup(CacheKey key) {
        return lookedUp.add(key);
    }

    void published(Publication p) {
        if (config.recordPublications) {
            publications.add(p);
        }
    }

    List<Publication> publications() {
        return List.copyOf(publications);
    }
}
