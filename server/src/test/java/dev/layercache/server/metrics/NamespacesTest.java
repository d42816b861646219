package dev.layercache.server.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.HashSet;
import java.util.Set;

import org.junit.jupiter.api.Test;

class NamespacesTest {
    @Test
    void theFirstPathComponentsNameTheNamespace() {
        Namespaces one = new Namespaces(1, 100);
        assertEquals("team", one.of("team/app/build"));
        assertEquals("solo", one.of("solo"));
        Namespaces two = new Namespaces(2, 100);
        assertEquals("team/app", two.of("team/app/build"));
        assertEquals("team/app", two.of("team/app"));
        assertEquals("solo", two.of("solo"));
    }

    @Test
    void beyondTheCapNewNamespacesCountAsOther() {
        Namespaces ns = new Namespaces(1, 3);
        assertEquals("a", ns.of("a/x"));
        assertEquals("b", ns.of("b/x"));
        assertEquals("c", ns.of("c/x"));
        assertEquals(Namespaces.OTHER, ns.of("d/x"));
        assertEquals(Namespaces.OTHER, ns.of("e"));
        // Namespaces admitted before the cap keep their label.
        assertEquals("b", ns.of("b/other-repo"));
    }

    @Test
    void invalidNamesHaveNoNamespace() {
        Namespaces ns = new Namespaces(1, 3);
        // Seen filling the slots of a node: names of requests the server refused as invalid.
        for (String name : new String[] {"", "/x", "<img", "team%2F..%2Fother", "Team/app", "team/../other", "a//b"}) {
            assertNull(ns.of(name), "'" + name + "'");
            assertNull(ns.ofMiss(name), "'" + name + "'");
        }
        assertEquals("a", ns.of("a/x"));
        assertEquals("b", ns.of("b/x"));
        assertEquals("c", ns.of("c/x"), "no slot went to an invalid name");
    }

    @Test
    void aMissTakesASlotOnlyForANamespaceThatHoldsRepositories() {
        Set<String> stored = new HashSet<>(Set.of("real"));
        Namespaces ns = new Namespaces(1, 3);
        ns.holdsRepositories(stored::contains);
        assertEquals(Namespaces.OTHER, ns.ofMiss("ghost/app"), "a pull of a namespace nobody pushed to");
        assertEquals(Namespaces.OTHER, ns.ofMiss("ghost2"));
        assertEquals("real", ns.ofMiss("real/never-pushed"), "a miss in a namespace the store holds");
        assertEquals("new", ns.of("new/app"), "a push creates its namespace");
        assertEquals("new", ns.ofMiss("new/other-app"), "a namespace with a label keeps it for misses");
        // ghost was not remembered as other: once pushed to, it takes the last free slot.
        stored.add("ghost");
        assertEquals("ghost", ns.ofMiss("ghost/app"));
        assertEquals(Namespaces.OTHER, ns.of("late/app"), "the cap still holds");
    }
}
