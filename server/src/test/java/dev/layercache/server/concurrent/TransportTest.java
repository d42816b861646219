package dev.layercache.server.concurrent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.util.concurrent.EventExecutor;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The event loops of both ports: as many as the setting {@code event-loops} says, else 4 per core up to 64. */
class TransportTest {
    @Test
    void theDefaultIsFourLoopsPerCoreAndAtMostSixtyFour() {
        assertEquals(4, Transport.defaultLoops(1));
        assertEquals(8, Transport.defaultLoops(2));
        assertEquals(64, Transport.defaultLoops(16));
        assertEquals(64, Transport.defaultLoops(96));
        assertEquals(4, Transport.defaultLoops(0), "a machine always has a core");
    }

    @Test
    void theGroupRunsTheLoopsAskedForOrTheDefault() throws Exception {
        try (Transport three = new Transport(3)) {
            assertEquals(3, three.loops());
            assertEquals(3, loopThreads(three).size());
        }
        try (Transport auto = new Transport(0)) {
            int expected = Transport.defaultLoops(Runtime.getRuntime().availableProcessors());
            assertEquals(expected, auto.loops());
            assertEquals(expected, loopThreads(auto).size());
        }
    }

    /** The names of the threads of the group's loops, each made to run a task. */
    private static Set<String> loopThreads(Transport transport) throws Exception {
        Set<String> names = new HashSet<>();
        for (EventExecutor loop : transport.group()) {
            names.add(loop.submit(() -> Thread.currentThread().getName()).get(10, TimeUnit.SECONDS));
        }
        names.forEach(n -> assertTrue(n.startsWith("layercache-loop-"), n));
        return names;
    }
}
