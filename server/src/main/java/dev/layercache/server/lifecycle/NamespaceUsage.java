package dev.layercache.server.lifecycle;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * What each namespace holds, counted exactly: a namespace's bytes are those of the distinct blobs
 * its roots (tags, untagged manifests, cache entries of its repositories) reach, each blob once
 * however many of its roots share it. A blob two namespaces share counts in both; the sum over
 * namespaces can therefore pass the store's bytes, never a namespace's own figure.
 *
 * @param at        when the roots were read
 * @param rows      by bytes, largest first
 * @param protect   the roots the {@code protect} patterns hold, and their distinct blobs' bytes
 */
public record NamespaceUsage(Instant at, List<Row> rows, Protected protect) {
    /** One namespace: distinct blobs and their bytes, and how many roots reach them. */
    public record Row(String namespace, long bytes, long blobs, long roots) {
    }

    /** What the protect patterns hold. */
    public record Protected(List<String> patterns, long roots, long bytes) {
    }

    static final NamespaceUsage NONE = new NamespaceUsage(null, List.of(), new Protected(List.of(), 0, 0));

    /** The usage of {@code candidates} (read with their blobs), grouped by {@code namespaceOf} their repository. */
    static NamespaceUsage of(Instant at, List<Candidate> candidates, Function<String, String> namespaceOf,
                             ProtectedRefs protect) {
        Map<String, List<Candidate>> byNamespace = new HashMap<>();
        for (Candidate c : candidates) {
            byNamespace.computeIfAbsent(namespaceOf.apply(c.root().repository()), n -> new ArrayList<>()).add(c);
        }
        List<Row> rows = new ArrayList<>();
        byNamespace.forEach((ns, roots) -> {
            Map<Long, Long> blobs = distinct(roots);
            rows.add(new Row(ns, sum(blobs), blobs.size(), roots.size()));
        });
        rows.sort(Comparator.comparingLong(Row::bytes).reversed().thenComparing(Row::namespace));
        List<Candidate> held = protect.protectedOnes(candidates);
        return new NamespaceUsage(at, List.copyOf(rows),
                new Protected(protect.patterns(), held.size(), sum(distinct(held))));
    }

    /** The bytes of the distinct blobs {@code roots} reach. */
    static long distinctBytes(List<Candidate> roots) {
        return sum(distinct(roots));
    }

    private static Map<Long, Long> distinct(List<Candidate> roots) {
        Map<Long, Long> sizes = new HashMap<>();
        for (Candidate c : roots) {
            for (int i = 0; i < c.blobs().length; i++) {
                sizes.put(c.blobs()[i], c.sizes()[i]);
            }
        }
        return sizes;
    }

    private static long sum(Map<Long, Long> sizes) {
        long total = 0;
        for (long s : sizes.values()) {
            total += s;
        }
        return total;
    }
}
