package dev.layercache.server;

import com.sun.management.GarbageCollectionNotificationInfo;
import com.sun.management.HotSpotDiagnosticMXBean;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import javax.management.NotificationEmitter;
import javax.management.openmbean.CompositeData;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps the heap of a node started without any heap option near {@link #BUDGET}, so that the
 * README's plain {@code java -jar} stays under 512 MiB resident.
 *
 * <p>Why it is needed: without {@code -Xmx} the JVM allows a quarter of the machine's RAM (6 GiB
 * on 24 GiB) and starts with a 64th (384 MiB). G1 then grows the heap whenever collections take
 * more than a share of the time that it scales down with the heap's distance from that maximum (to
 * 1%), which a busy node on two shared cores exceeds: a node moving 4 GiB blobs while serving
 * small requests grew from 384 to 544 MiB of heap and 732 MiB resident, although its live data is
 * a few tens of MiB. JDK 17's G1 cannot be capped at run time ({@code SoftMaxHeapSize} is ignored
 * by G1 there) and a relaunch with {@code -Xmx} would change the PID that signals, systemd and
 * {@code kill -9} address. What G1 does honour: a full collection shrinks the heap to what its
 * {@code MaxHeapFreeRatio} allows around the live data, and {@code G1PeriodicGCInterval} (a
 * manageable flag) lets an idle node give memory back. So the policy, applied only when the user
 * chose no heap option (which always wins):
 *
 * <ul>
 *   <li>one collection right after start-up, before the 384 MiB initial heap has been touched,
 *       so that the young generation starts small;
 *   <li>after each young collection that leaves more than {@link #BUDGET} committed, one full
 *       collection on a thread of its own (never on the notification thread), which gives the
 *       growth back before the new regions are touched;
 *   <li>if the live data itself outgrows half the budget, the budget doubles (up to the JVM's
 *       maximum) rather than collecting in a loop: a node with much metadata gets the heap it
 *       needs;
 *   <li>{@code G1PeriodicGCInterval} of {@link #PERIODIC_GC_MILLIS}: an idle node returns memory.
 * </ul>
 */
final class HeapPolicy {
    private static final Logger log = LoggerFactory.getLogger(HeapPolicy.class);

    /** The committed heap the policy aims at: with the node's off-heap share, under 512 MiB. */
    static final long BUDGET = 256L << 20;
    /** An idle node collects (concurrently) after this long without a collection. */
    static final long PERIODIC_GC_MILLIS = 60_000;

    /** JVM options by which a user sizes the heap; any of them turns the policy off. */
    private static final List<String> HEAP_OPTIONS = List.of("-Xmx", "-Xms", "-XX:MaxHeapSize=",
            "-XX:InitialHeapSize=", "-XX:MinHeapSize=", "-XX:MaxRAMPercentage=", "-XX:MinRAMPercentage=",
            "-XX:InitialRAMPercentage=", "-XX:MaxRAMFraction=", "-XX:MinRAMFraction=",
            "-XX:InitialRAMFraction=", "-XX:MaxRAM=", "-XX:SoftMaxHeapSize=", "-XX:MaxHeapFreeRatio=",
            "-XX:MinHeapFreeRatio=", "-XX:G1PeriodicGCInterval=");

    private final MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
    private final long maxHeap = memory.getHeapMemoryUsage().getMax();
    private final AtomicLong budget = new AtomicLong(BUDGET);
    private final AtomicBoolean pending = new AtomicBoolean();
    private final Object signal = new Object();

    private HeapPolicy() {
    }

    /**
     * The heap option the user gave (from the JVM's arguments, {@code JAVA_TOOL_OPTIONS} or
     * {@code JDK_JAVA_OPTIONS}), or null if none.
     */
    static String userHeapOption(List<String> jvmArguments, Map<String, String> env) {
        List<String> all = new ArrayList<>(jvmArguments);
        for (String name : List.of("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS")) {
            String value = env.get(name);
            if (value != null && !value.isBlank()) {
                all.addAll(List.of(value.trim().split("\\s+")));
            }
        }
        for (String argument : all) {
            for (String option : HEAP_OPTIONS) {
                if (argument.startsWith(option)) {
                    return argument;
                }
            }
        }
        return null;
    }

    /** Applies the policy to this JVM unless the user sized the heap; logs once what it chose. */
    static void apply() {
        String user = userHeapOption(ManagementFactory.getRuntimeMXBean().getInputArguments(), System.getenv());
        long max = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getMax();
        if (user != null) {
            log.info("heap: {} given, the JVM's own policy applies (at most {})", user, mib(max));
            return;
        }
        List<GarbageCollectorMXBean> collectors = ManagementFactory.getGarbageCollectorMXBeans();
        boolean g1 = collectors.stream().anyMatch(c -> c.getName().equals("G1 Young Generation"));
        HotSpotDiagnosticMXBean hotspot = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
        if (!g1 || Boolean.parseBoolean(hotspot.getVMOption("DisableExplicitGC").getValue())) {
            log.info("heap: no heap option given, at most {}; not bounded further (needs G1 and explicit"
                    + " collections); -Xmx sets a limit", mib(max));
            return;
        }
        hotspot.setVMOption("G1PeriodicGCInterval", Long.toString(PERIODIC_GC_MILLIS));
        HeapPolicy policy = new HeapPolicy();
        for (GarbageCollectorMXBean collector : collectors) {
            ((NotificationEmitter) collector).addNotificationListener((n, handback) -> {
                if (GarbageCollectionNotificationInfo.GARBAGE_COLLECTION_NOTIFICATION.equals(n.getType())) {
                    policy.collected(GarbageCollectionNotificationInfo.from((CompositeData) n.getUserData()));
                }
            }, null, null);
        }
        Thread thread = new Thread(policy::run, "layercache-heap-policy");
        thread.setDaemon(true);
        policy.pending.set(true); // the start-up collection
        thread.start();
        log.info("heap: no heap option given (the JVM allows {}); keeping the heap near {} by a full"
                + " collection when it grows past, and returning memory after {} s idle; -Xmx or"
                + " -XX:MaxRAMPercentage overrides", mib(max), mib(BUDGET), PERIODIC_GC_MILLIS / 1000);
    }

    private void collected(GarbageCollectionNotificationInfo info) {
        if (!info.getGcName().equals("G1 Young Generation")) {
            return;
        }
        long committed = info.getGcInfo().getMemoryUsageAfterGc().values().stream()
                .mapToLong(u -> u.getCommitted()).sum();
        if (committed > budget.get() && pending.compareAndSet(false, true)) {
            synchronized (signal) {
                signal.notifyAll();
            }
        }
    }

    private void run() {
        try {
            while (true) {
                synchronized (signal) {
                    while (!pending.get()) {
                        signal.wait();
                    }
                }
                System.gc();
                long used = memory.getHeapMemoryUsage().getUsed();
                long current = budget.get();
                if (used > current / 2 && current < maxHeap) {
                    long raised = Math.min(maxHeap, current * 2);
                    budget.set(raised);
                    log.info("heap: {} live after a full collection, the heap's bound goes from {} to {}",
                            mib(used), mib(current), mib(raised));
                }
                pending.set(false);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static String mib(long bytes) {
        return bytes >= 10L << 30
                ? (bytes >> 30) + " GiB"
                : bytes >= 1L << 30 ? String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30))
                : (bytes >> 20) + " MiB";
    }
}
