package dev.layercache.server.http;

import static dev.layercache.server.http.Oci.OCI_MANIFEST;
import static dev.layercache.server.http.Oci.assertError;
import static dev.layercache.server.http.Oci.imageManifest;
import static dev.layercache.server.http.Oci.utf8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.layercache.server.testing.TestServices;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code /v2/<name>/tags/list} and {@code /v2/_catalog}. Each test has its own node, so the
 * catalog holds exactly what the test pushed.
 */
@Timeout(60)
class ListingHttpTest {
    @RegisterExtension
    final TestServices services = new TestServices();
    private final Oci oci = new Oci(services);

    private static final Pattern NEXT = Pattern.compile("^<([^>]+)>;\\s*rel=\"next\"$");

    /** Pushes one manifest tagged with each of {@code tags}, in the order given. */
    private void tag(String repo, String... tags) {
        Oci.Blob cfg = oci.pushBlob(repo, Oci.OCI_CONFIG, utf8("{\"repo\":\"" + repo + "\"}"));
        Oci.Blob lyr = oci.pushBlob(repo, Oci.OCI_LAYER, utf8("layer"));
        byte[] m = imageManifest(OCI_MANIFEST, cfg, lyr);
        for (String t : tags) {
            oci.pushManifest(repo, t, OCI_MANIFEST, m);
        }
    }

    private static List<String> strings(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }

    private static String next(Oci.Res r) {
        String link = r.header("Link");
        if (link == null) {
            return null;
        }
        Matcher m = NEXT.matcher(link.trim());
        assertTrue(m.matches(), "Link header: " + link);
        return m.group(1);
    }

    // ---- tags ------------------------------------------------------------------------------

    @Test
    void tagsAreSorted() {
        tag("list/app", "v2", "latest", "v10", "Beta", "v1", "_x");
        Oci.Res r = oci.get("/v2/list/app/tags/list");
        assertEquals(200, r.status(), r::toString);
        assertTrue(r.header("Content-Type").startsWith("application/json"));
        assertEquals("list/app", r.json().path("name").asText());
        assertEquals(List.of("Beta", "_x", "latest", "v1", "v10", "v2"), strings(r.json().path("tags")));
        assertNull(r.header("Link"));
    }

    @Test
    void tagsArePaginated() {
        tag("list/paged", "e", "c", "a", "d", "b");
        Oci.Res first = oci.get("/v2/list/paged/tags/list?n=2");
        assertEquals(200, first.status());
        assertEquals(List.of("a", "b"), strings(first.json().path("tags")));
        assertEquals("</v2/list/paged/tags/list?n=2&last=b>; rel=\"next\"", first.header("Link"));

        Oci.Res second = oci.get(next(first));
        assertEquals(List.of("c", "d"), strings(second.json().path("tags")));
        assertEquals("</v2/list/paged/tags/list?n=2&last=d>; rel=\"next\"", second.header("Link"));

        Oci.Res last = oci.get(next(second));
        assertEquals(200, last.status());
        assertEquals(List.of("e"), strings(last.json().path("tags")));
        assertNull(last.header("Link"), "the last page has no Link");
    }

    @Test
    void exactlyFullLastPageHasNoLink() {
        tag("list/even", "a", "b", "c", "d");
        Oci.Res first = oci.get("/v2/list/even/tags/list?n=2");
        assertNotNull(next(first));
        Oci.Res second = oci.get(next(first));
        assertEquals(List.of("c", "d"), strings(second.json().path("tags")));
        assertNull(second.header("Link"));
    }

    @Test
    void lastWithoutN() {
        tag("list/last", "a", "b", "c");
        Oci.Res r = oci.get("/v2/list/last/tags/list?last=a");
        assertEquals(List.of("b", "c"), strings(r.json().path("tags")));
        Oci.Res between = oci.get("/v2/list/last/tags/list?last=aa&n=1");
        assertEquals(List.of("b"), strings(between.json().path("tags")));
        Oci.Res past = oci.get("/v2/list/last/tags/list?last=z");
        assertEquals(200, past.status());
        assertEquals(List.of(), strings(past.json().path("tags")));
        assertNull(past.header("Link"));
    }

    @Test
    void unknownRepositoryTags() {
        tag("list/known", "a");
        assertError(oci.get("/v2/list/unknown/tags/list"), 404, "NAME_UNKNOWN");
        assertError(oci.get("/v2/list/unknown/tags/list?n=5"), 404, "NAME_UNKNOWN");
    }

    /** The repository does not exist whatever page size is asked for. */
    @Test
    void unknownRepositoryTagsWithNZero() {
        assertError(oci.get("/v2/list/unknown/tags/list?n=0"), 404, "NAME_UNKNOWN");
    }

    @Test
    void badPageSize() {
        tag("list/badn", "a");
        for (String n : List.of("abc", "-1", "1.5", "99999999999999999999", "%20")) {
            assertError(oci.get("/v2/list/badn/tags/list?n=" + n), 400, "PAGINATION_NUMBER_INVALID");
            assertError(oci.get("/v2/_catalog?n=" + n), 400, "PAGINATION_NUMBER_INVALID");
        }
    }

    @Test
    void invalidRepositoryName() {
        assertError(oci.get("/v2/List/Upper/tags/list"), 400, "NAME_INVALID");
    }

    // ---- catalog ---------------------------------------------------------------------------

    @Test
    void catalogIsSortedAndPaginated() {
        tag("zeta", "v1");
        tag("alpha", "v1");
        tag("mid/one", "v1");
        oci.pushBlob("blobonly", utf8("just a blob"));
        tag("mid/two", "v1");

        Oci.Res all = oci.get("/v2/_catalog");
        assertEquals(200, all.status(), all::toString);
        assertTrue(all.header("Content-Type").startsWith("application/json"));
        List<String> repos = strings(all.json().path("repositories"));
        assertTrue(repos.containsAll(List.of("alpha", "mid/one", "mid/two", "zeta")), repos::toString);
        List<String> sorted = new ArrayList<>(repos);
        sorted.sort(null);
        assertEquals(sorted, repos);
        assertNull(all.header("Link"));

        List<String> paged = new ArrayList<>();
        String path = "/v2/_catalog?n=2";
        int pages = 0;
        while (path != null) {
            Oci.Res page = oci.get(path);
            assertEquals(200, page.status(), page::toString);
            List<String> items = strings(page.json().path("repositories"));
            assertTrue(items.size() <= 2, items::toString);
            paged.addAll(items);
            path = next(page);
            if (path != null) {
                assertTrue(path.startsWith("/v2/_catalog?"), path);
                assertTrue(path.contains("n=2"), path);
                assertTrue(path.contains("last="), path);
            }
            pages++;
            assertTrue(pages < 10, "pagination does not end");
        }
        assertEquals(repos, paged);

        Oci.Res first = oci.get("/v2/_catalog?n=1");
        assertEquals(List.of("alpha"), strings(first.json().path("repositories")));
        assertEquals("</v2/_catalog?n=1&last=alpha>; rel=\"next\"", first.header("Link"));
    }

    @Test
    void emptyCatalog() {
        Oci.Res r = oci.get("/v2/_catalog");
        assertEquals(200, r.status());
        assertEquals(List.of(), strings(r.json().path("repositories")));
        assertNull(r.header("Link"));
    }
}
