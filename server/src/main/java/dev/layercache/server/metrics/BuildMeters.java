package dev.layercache.server.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * The counters of stock builders' builds (docs/builds.md, "Where it shows"): steps reused and rebuilt
 * per builder (the step-level hit rate), builds per builder and status, and the hygiene warnings
 * of pushed caches. Every label combination is built when the node starts; a builder, status or
 * warning outside the lists below is counted under {@code other}, so labels stay bounded whatever
 * a caller passes.
 */
final class BuildMeters {
    static final List<String> BUILDERS = List.of("buildkit", "buildah");
    static final List<String> STATUSES = List.of("compared", "first_export", "unparsable", "grouped");
    static final List<String> WARNINGS = List.of("cache_config_too_large", "layers_not_in_repository",
            "diff_id_two_compressions", "unparsable");
    private static final String OTHER = "other";

    private final Map<String, Counter[]> steps = new HashMap<>();
    private final Map<String, Counter> builds = new HashMap<>();
    private final Map<String, Counter> warnings = new HashMap<>();
    private volatile LongSupplier dropped = () -> 0;

    BuildMeters(MeterRegistry registry) {
        for (String builder : with(BUILDERS)) {
            steps.put(builder, new Counter[] {
                    Counter.builder("layercache_build_steps").description("Steps of stock builders' builds, by whether"
                            + " they were reused from the cache").tags("builder", builder, "result", "reused")
                            .register(registry),
                    Counter.builder("layercache_build_steps").description("Steps of stock builders' builds, by whether"
                            + " they were reused from the cache").tags("builder", builder, "result", "rebuilt")
                            .register(registry)});
            for (String status : with(STATUSES)) {
                builds.put(builder + '\0' + status, Counter.builder("layercache_builds")
                        .description("Builds of stock builders seen, by what could be said of them")
                        .tags("builder", builder, "status", status).register(registry));
            }
            for (String warning : with(WARNINGS)) {
                warnings.put(builder + '\0' + warning, Counter.builder("layercache_build_warnings")
                        .description("Pushed build caches with a hygiene problem, by problem")
                        .tags("builder", builder, "warning", warning).register(registry));
            }
        }
    }

    void build(String builder, String status, int reused, int rebuilt, List<String> warningKinds) {
        String b = steps.containsKey(builder) ? builder : OTHER;
        Counter[] s = steps.get(b);
        s[0].increment(reused);
        s[1].increment(rebuilt);
        Counter c = builds.get(b + '\0' + status);
        (c != null ? c : builds.get(b + '\0' + OTHER)).increment();
        for (String kind : warningKinds) {
            Counter w = warnings.get(b + '\0' + kind);
            (w != null ? w : warnings.get(b + '\0' + OTHER)).increment();
        }
    }

    /** Analyses of pushed manifests dropped because they came faster than they were done. */
    void watchDropped(MeterRegistry registry, LongSupplier dropped) {
        this.dropped = dropped;
        // The meter's object is this one, which the node's metrics hold: Micrometer keeps a
        // function meter's object weakly, and nothing else holds the supplier (a method reference
        // made at wiring), so with it as the object the count would read 0 after a collection.
        FunctionCounter.builder("layercache_build_analyses_dropped", this, m -> m.dropped.getAsLong())
                .description("Analyses of pushed build caches dropped because the queue was full")
                .register(registry);
    }

    private static List<String> with(List<String> labels) {
        List<String> out = new java.util.ArrayList<>(labels);
        out.add(OTHER);
        return out;
    }
}
