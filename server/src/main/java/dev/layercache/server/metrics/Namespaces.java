package dev.layercache.server.metrics;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * Turns repository names into namespace labels: the first {@code depth} path components, at most
 * {@code max} distinct labels, then {@link #OTHER}. Prometheus keeps a series per label value, so
 * an unbounded label (one per repository a CI system invents) would grow without end.
 */
final class Namespaces {
    static final String OTHER = "other";
    /** Repository names remembered with their label; past this, the label is derived each time. */
    private static final int MAX_REMEMBERED_NAMES = 10_000;

    private final int depth;
    private final int max;
    private final ConcurrentMap<String, String> labels = new ConcurrentHashMap<>();
    private final ConcurrentMap<String, String> byName = new ConcurrentHashMap<>();

    Namespaces(int depth, int max) {
        this.depth = depth;
        this.max = max;
    }

    /** The label of a (valid) repository name. */
    String of(String repository) {
        String known = byName.get(repository);
        if (known != null) {
            return known;
        }
        String label = admit(prefix(repository));
        if (byName.size() < MAX_REMEMBERED_NAMES) {
            byName.put(repository, label);
        }
        return label;
    }

    private String prefix(String repository) {
        int end = -1;
        for (int i = 0; i < depth; i++) {
            end = repository.indexOf('/', end + 1);
            if (end < 0) {
                return repository;
            }
        }
        return repository.substring(0, end);
    }

    private String admit(String prefix) {
        String label = labels.get(prefix);
        if (label != null) {
            return label;
        }
        synchronized (labels) {
            if (labels.size() >= max) {
                return OTHER;
            }
            return labels.computeIfAbsent(prefix, p -> p);
        }
    }
}
