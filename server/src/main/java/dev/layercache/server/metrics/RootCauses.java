package dev.layercache.server.metrics;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The build steps that most often were the root cause of a miss, in bounded memory (the
 * space-saving algorithm: when the table is full, a new step takes the place of the least counted
 * one and inherits its count, so frequent steps are never pushed out by a stream of rare ones).
 */
final class RootCauses {
    /** One step and how often it was a root cause. */
    record Step(String namespace, String step, long misses) {
    }

    private final int capacity;
    private final Map<String, Step> steps = new HashMap<>();

    RootCauses(int capacity) {
        this.capacity = capacity;
    }

    synchronized void count(String namespace, String step) {
        String id = namespace + '\0' + step;
        Step known = steps.get(id);
        if (known != null) {
            steps.put(id, new Step(namespace, step, known.misses() + 1));
            return;
        }
        long inherited = 0;
        if (steps.size() >= capacity) {
            Map.Entry<String, Step> least = steps.entrySet().stream()
                    .min(Comparator.comparingLong(e -> e.getValue().misses())).orElseThrow();
            inherited = least.getValue().misses();
            steps.remove(least.getKey());
        }
        steps.put(id, new Step(namespace, step, inherited + 1));
    }

    /** The {@code n} most frequent of the steps in repositories {@code shown} accepts, most frequent first. */
    synchronized List<Step> top(int n, java.util.function.Predicate<String> shown) {
        List<Step> all = new ArrayList<>();
        for (Step s : steps.values()) {
            if (shown.test(s.namespace())) {
                all.add(s);
            }
        }
        all.sort(Comparator.comparingLong(Step::misses).reversed().thenComparing(Step::step));
        return all.subList(0, Math.min(n, all.size()));
    }
}
