package dev.layercache.server.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class RootCausesTest {
    @Test
    void theMostFrequentStepsComeFirst() {
        RootCauses causes = new RootCauses(10);
        for (int i = 0; i < 5; i++) {
            causes.count("team", "app#3");
        }
        causes.count("team", "app#1");
        causes.count("team", "app#1");
        causes.count("other", "lib#2");
        List<RootCauses.Step> top = causes.top(2, repository -> true);
        assertEquals(List.of(new RootCauses.Step("team", "app#3", 5), new RootCauses.Step("team", "app#1", 2)), top);
    }

    @Test
    void aStreamOfRareStepsDoesNotPushOutAFrequentOne() {
        // Space-saving keeps every step seen more than (all misses / capacity) times: 1050 / 100 here.
        RootCauses causes = new RootCauses(100);
        for (int i = 0; i < 50; i++) {
            causes.count("team", "hot");
        }
        for (int i = 0; i < 1000; i++) {
            causes.count("team", "rare-" + i);
        }
        List<RootCauses.Step> top = causes.top(10, repository -> true);
        assertTrue(causes.top(1000, repository -> true).size() <= 100, "memory stays bounded");
        assertEquals("hot", top.get(0).step());
        assertEquals(50, top.get(0).misses());
    }
}
