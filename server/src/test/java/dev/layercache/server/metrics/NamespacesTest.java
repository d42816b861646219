package dev.layercache.server.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
}
