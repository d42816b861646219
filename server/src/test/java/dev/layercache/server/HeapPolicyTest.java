package dev.layercache.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.layercache.server.testing.ServerProcess;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The heap policy of a node started with no JVM options (the README's plain {@code java -jar}):
 * applied, seen from outside through {@code jcmd}, and never over a heap option the user gave.
 */
@Timeout(180)
class HeapPolicyTest {
    @TempDir
    Path dir;

    @Test
    void anyHeapOptionFromTheCommandLineOrTheEnvironmentWins() {
        assertNull(HeapPolicy.userHeapOption(List.of("-Dx=y", "-XX:+UseG1GC", "-XX:NativeMemoryTracking=summary"),
                Map.of("JAVA_TOOL_OPTIONS", " ", "PATH", "/bin")));
        assertEquals("-Xmx256m", HeapPolicy.userHeapOption(List.of("-Dx=y", "-Xmx256m"), Map.of()));
        assertEquals("-XX:MaxRAMPercentage=50",
                HeapPolicy.userHeapOption(List.of(), Map.of("JAVA_TOOL_OPTIONS", "-Da=b  -XX:MaxRAMPercentage=50")));
        assertEquals("-Xms1g", HeapPolicy.userHeapOption(List.of(), Map.of("JDK_JAVA_OPTIONS", "-Xms1g")));
        assertEquals("-XX:MaxHeapSize=1073741824",
                HeapPolicy.userHeapOption(List.of("-XX:MaxHeapSize=1073741824"), Map.of()));
    }

    /**
     * With no options the node sets G1's periodic collection and shrinks its committed heap to the
     * budget at start-up (the JVM alone keeps its initial heap, a 64th of the RAM: 384 MiB on
     * 24 GiB, and grows from there under load). On a machine whose initial heap is already under
     * the budget the second check holds trivially, the first does not.
     */
    @Test
    void aNodeWithoutHeapOptionsBoundsItsHeapAndSaysSo() throws Exception {
        // The JVM picks its collector from the machine (G1 from two cores and 2 GiB up): this test's
        // JVM, started without a collector option too, picked the same one as the node's.
        boolean g1 = ManagementFactory.getGarbageCollectorMXBeans().stream()
                .anyMatch(c -> c.getName().equals("G1 Young Generation"));
        try (ServerProcess node = ServerProcess.start(dir.resolve("data"), dir.resolve("node.log"), List.of())) {
            long pid = node.process().pid();
            if (!g1) {
                assertTrue(node.log().contains("not bounded further (needs G1"), node.log());
                return;
            }
            String flags = jcmd(pid, "VM.flags");
            assertTrue(flags.contains("-XX:G1PeriodicGCInterval=" + HeapPolicy.PERIODIC_GC_MILLIS), flags);
            assertTrue(node.log().contains("heap: no heap option given"), node.log());
            // The start-up collection runs on its own thread: wait for it, not for a time.
            long committed = Long.MAX_VALUE;
            for (int i = 0; i < 200 && committed > HeapPolicy.BUDGET; i++) {
                committed = committedHeap(jcmd(pid, "GC.heap_info"));
                if (committed > HeapPolicy.BUDGET) {
                    Thread.sleep(100);
                }
            }
            assertTrue(committed <= HeapPolicy.BUDGET, "committed heap " + committed);
        }
        try (ServerProcess node = ServerProcess.start(dir.resolve("data2"), dir.resolve("node2.log"),
                List.of("-Xmx300m"))) {
            assertTrue(node.log().contains("heap: -Xmx300m given, the JVM's own policy applies (at most 300 MiB)"),
                    node.log());
            String flags = jcmd(node.process().pid(), "VM.flags");
            assertTrue(!flags.contains("G1PeriodicGCInterval"), flags);
        }
    }

    private static final Pattern TOTAL = Pattern.compile("garbage-first heap\\s+total (\\d+)K");

    private static long committedHeap(String heapInfo) {
        Matcher m = TOTAL.matcher(heapInfo);
        assertTrue(m.find(), heapInfo);
        return Long.parseLong(m.group(1)) << 10;
    }

    private static String jcmd(long pid, String command) throws Exception {
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        Process p = new ProcessBuilder(jcmd.toString(), Long.toString(pid), command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "jcmd did not exit");
        assertEquals(0, p.exitValue(), out);
        return out;
    }
}
