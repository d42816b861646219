package dev.layercache.server.metrics;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongFunction;
import java.util.function.Supplier;

/**
 * Puts together what {@code GET /api/v1/stats} answers ({@link StatsSnapshot}) from the parts
 * that count: the namespaces' windows, the entry misses, the root causes, the store and the
 * recent evictions. It only reads them.
 */
final class StatsAssembler {
    /** Root causes in a snapshot. */
    static final int TOP_ROOT_CAUSES = 20;

    private final Clock clock;
    private final Instant started;
    private final NamespaceTable namespaces;
    private final Supplier<Map<String, Long>> entryMisses;
    private final RootCauses rootCauses;
    private final RecentEvictions recentEvictions;
    private final StoreWatch store;
    /** The mirror's section, or null on a node that mirrors nothing (read at each snapshot: set after this is made). */
    private final LongFunction<StatsSnapshot.Mirror> mirror;

    StatsAssembler(Clock clock, NamespaceTable namespaces, Supplier<Map<String, Long>> entryMisses,
                   RootCauses rootCauses, RecentEvictions recentEvictions, StoreWatch store,
                   LongFunction<StatsSnapshot.Mirror> mirror) {
        this.clock = clock;
        this.started = clock.instant();
        this.namespaces = namespaces;
        this.entryMisses = entryMisses;
        this.rootCauses = rootCauses;
        this.recentEvictions = recentEvictions;
        this.store = store;
        this.mirror = mirror;
    }

    /**
     * A snapshot as {@code view}'s reader may see it: the namespaces, root causes and evictions of
     * what it may read. The windows, history, entry misses, store and mirror stay the whole
     * node's (docs/metrics.md, "Who sees which namespaces").
     */
    StatsSnapshot snapshot(MetricsView view) {
        long minute = Windows.minute(clock);
        // Every count belongs to a namespace (capped ones to "other"), so the whole node is the
        // sum of its namespaces: counting once per request, not once for the node and once more.
        List<NamespaceMeters> all = namespaces.all();
        long[] five = new long[Windows.Field.values().length];
        long[] hour = new long[five.length];
        long[] day = new long[five.length];
        List<StatsSnapshot.NamespaceStats> perNamespace = new ArrayList<>();
        for (NamespaceMeters ns : all) {
            long[] nsFive = ns.windows.lastMinutes(minute, 5);
            long[] nsHour = ns.windows.lastMinutes(minute, 60);
            long[] nsDay = ns.windows.lastDay(minute);
            addInto(five, nsFive);
            addInto(hour, nsHour);
            addInto(day, nsDay);
            if (view.label(ns.label)) {
                perNamespace.add(new StatsSnapshot.NamespaceStats(ns.label, windows(nsFive, nsHour, nsDay)));
            }
        }
        perNamespace.sort((a, b) -> {
            int byLookups = Long.compare(b.windows().get("24h").lookups(), a.windows().get("24h").lookups());
            return byLookups != 0 ? byLookups : a.namespace().compareTo(b.namespace());
        });
        List<StatsSnapshot.Minute> history = new ArrayList<>();
        for (long m = minute - Windows.MINUTES + 1; m <= minute; m++) {
            long[] c = new long[five.length];
            for (NamespaceMeters ns : all) {
                addInto(c, ns.windows.minute(m));
            }
            history.add(new StatsSnapshot.Minute(Instant.ofEpochSecond(m * 60),
                    c[Windows.Field.HITS.ordinal()], c[Windows.Field.MISSES.ordinal()]));
        }
        Instant now = clock.instant();
        return new StatsSnapshot(now, Duration.between(started, now).toSeconds(), windows(five, hour, day),
                perNamespace, history, entryMisses.get(), rootCauses.top(TOP_ROOT_CAUSES, view::repository),
                store.totals(), store.budgetBytes(), recentEvictions.list(view::repository), mirror.apply(minute));
    }

    private static void addInto(long[] total, long[] more) {
        for (int i = 0; i < total.length; i++) {
            total[i] += more[i];
        }
    }

    private static Map<String, StatsSnapshot.Window> windows(long[] five, long[] hour, long[] day) {
        Map<String, StatsSnapshot.Window> out = new LinkedHashMap<>();
        out.put("5m", StatsSnapshot.Window.of(five));
        out.put("1h", StatsSnapshot.Window.of(hour));
        out.put("24h", StatsSnapshot.Window.of(day));
        return out;
    }
}
