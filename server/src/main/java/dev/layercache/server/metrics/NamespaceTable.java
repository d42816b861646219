package dev.layercache.server.metrics;

import io.micrometer.core.instrument.MeterRegistry;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.function.Predicate;

/**
 * The {@link NamespaceMeters} of every label {@link Namespaces} has handed out, made on first
 * use. Every count that names a repository lands in exactly one of them (capped namespaces in
 * {@code other}), so the whole node's windows are the sum over this table.
 */
final class NamespaceTable {
    private final Namespaces namespaces;
    private final MeterRegistry registry;
    private final ConcurrentMap<String, NamespaceMeters> byLabel = new ConcurrentHashMap<>();

    NamespaceTable(Namespaces namespaces, MeterRegistry registry) {
        this.namespaces = namespaces;
        this.registry = registry;
    }

    /** See {@link CacheMetrics#holdsRepositories}. */
    void holdsRepositories(Predicate<String> test) {
        namespaces.holdsRepositories(test);
    }

    /** The meters of a repository that exists or is being created; null for an invalid name. */
    NamespaceMeters of(String repository) {
        return meters(namespaces.of(repository));
    }

    /** The meters of a repository a lookup missed, which may not exist; null for an invalid name. */
    NamespaceMeters ofMiss(String repository) {
        return meters(namespaces.ofMiss(repository));
    }

    /** The label of a repository that exists, {@link Namespaces#OTHER} for an invalid name. */
    String label(String repository) {
        String label = namespaces.of(repository);
        return label == null ? Namespaces.OTHER : label;
    }

    /**
     * The label of a repository that may not exist ({@link Namespaces#ofMiss}), without making its
     * meters: a label that only names something, never counts in it. Null for an invalid name.
     */
    String missLabel(String repository) {
        return namespaces.ofMiss(repository);
    }

    /** Every namespace counted so far, in no particular order. */
    List<NamespaceMeters> all() {
        return List.copyOf(byLabel.values());
    }

    private NamespaceMeters meters(String label) {
        if (label == null) {
            return null;
        }
        NamespaceMeters ns = byLabel.get(label);
        return ns != null ? ns : byLabel.computeIfAbsent(label, l -> new NamespaceMeters(l, registry));
    }
}
