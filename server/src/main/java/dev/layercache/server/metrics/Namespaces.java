package dev.layercache.server.metrics;

import dev.layercache.server.core.RepositoryName;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.function.Predicate;

/**
 * Turns repository names into namespace labels: the first {@code depth} path components, at most
 * {@code max} distinct labels, then {@link #OTHER}. Prometheus keeps a series per label value, so
 * an unbounded label (one per repository a CI system invents) would grow without end.
 *
 * <p>The slots are for namespaces that exist (issue 18): a name that is not a valid repository
 * name has no label at all, and a lookup that missed ({@link #ofMiss}) takes a free slot only
 * when the store holds some repository in that namespace. Anybody can send a request naming
 * anything; only pushes (which create repositories) and the namespaces they created decide which
 * tenants are shown by name. Refused requests never get here (the surfaces count them first).
 */
final class Namespaces {
    static final String OTHER = "other";
    /** Repository names remembered with their label; past this, the label is derived each time. */
    private static final int MAX_REMEMBERED_NAMES = 10_000;

    private final int depth;
    private final int max;
    private final ConcurrentMap<String, String> labels = new ConcurrentHashMap<>();
    private final ConcurrentMap<String, String> byName = new ConcurrentHashMap<>();
    /** True when the store holds a repository named like the prefix or below it; nothing is known until set. */
    private volatile Predicate<String> holdsRepositories = prefix -> false;

    Namespaces(int depth, int max) {
        this.depth = depth;
        this.max = max;
    }

    /** Where {@link #ofMiss} asks whether a namespace exists (a prefix of whole path components, a valid name). */
    void holdsRepositories(Predicate<String> test) {
        this.holdsRepositories = test;
    }

    /**
     * The label of a repository that exists, or that an authorised write is creating: its
     * namespace takes a free slot. Null when {@code repository} is not a valid repository name.
     */
    String of(String repository) {
        return label(repository, true);
    }

    /**
     * The label of a repository a lookup did not find, which may not exist: its namespace's label
     * when the namespace has one or holds some repository (it then takes a free slot), otherwise
     * {@link #OTHER}. Null when {@code repository} is not a valid repository name.
     */
    String ofMiss(String repository) {
        return label(repository, false);
    }

    private String label(String repository, boolean exists) {
        if (repository == null) {
            return null;
        }
        String known = byName.get(repository);
        if (known != null) {
            return known;
        }
        // Only names that pass here are remembered, so a known name needs no check.
        if (!RepositoryName.isValid(repository)) {
            return null;
        }
        String prefix = prefix(repository);
        String label = labels.get(prefix);
        if (label == null) {
            if (labels.size() >= max) {
                label = OTHER;
            } else if (!exists && !holdsRepositories.test(prefix)) {
                // Not remembered: a push may create the namespace later, and then it gets its label.
                return OTHER;
            } else {
                label = admit(prefix);
            }
        }
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
