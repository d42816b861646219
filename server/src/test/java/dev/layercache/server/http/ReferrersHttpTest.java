package dev.layercache.server.http;

import static dev.layercache.server.http.Oci.OCI_EMPTY;
import static dev.layercache.server.http.Oci.OCI_INDEX;
import static dev.layercache.server.http.Oci.OCI_MANIFEST;
import static dev.layercache.server.http.Oci.assertError;
import static dev.layercache.server.http.Oci.random;
import static dev.layercache.server.http.Oci.sha256;
import static dev.layercache.server.http.Oci.utf8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.layercache.server.testing.TestServices;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The referrers API: manifests with a {@code subject}, listed by {@code GET /v2/<name>/referrers/<digest>}. */
@Timeout(60)
class ReferrersHttpTest {
    @RegisterExtension
    static final TestServices services = new TestServices();
    private final Oci oci = new Oci(services);

    private static final String SBOM = "application/vnd.example.sbom.v1";
    private static final String SIGNATURE = "application/vnd.example.signature.v1";

    /** Pushes an artifact about {@code subject}; returns its bytes. */
    private byte[] artifact(String repo, String artifactType, String subject, long subjectSize, String note) {
        Oci.Blob empty = oci.pushBlob(repo, OCI_EMPTY, utf8("{}"));
        Oci.Blob payload = oci.pushBlob(repo, "application/json", utf8("{\"note\":\"" + note + "\"}"));
        String type = artifactType == null ? "" : "\"artifactType\":\"" + artifactType + "\",";
        return utf8("{\"schemaVersion\":2,\"mediaType\":\"" + OCI_MANIFEST + "\"," + type
                + "\"config\":" + empty.descriptor() + ",\"layers\":[" + payload.descriptor() + "],"
                + "\"subject\":{\"mediaType\":\"" + OCI_MANIFEST + "\",\"digest\":\"" + subject + "\",\"size\":"
                + subjectSize + "},\"annotations\":{\"org.example.note\":\"" + note + "\"}}");
    }

    private Map<String, JsonNode> byDigest(JsonNode index) {
        Map<String, JsonNode> out = new HashMap<>();
        index.path("manifests").forEach(d -> out.put(d.path("digest").asText(), d));
        return out;
    }

    @Test
    void pushWithSubjectAnswersOciSubject() {
        String repo = "ref/subject";
        byte[] image = oci.pushImage(repo, "v1", "subject");
        byte[] sbom = artifact(repo, SBOM, sha256(image), image.length, "first");
        Oci.Res r = oci.putManifest(repo, sha256(sbom), OCI_MANIFEST, sbom);
        assertEquals(201, r.status(), r::toString);
        assertEquals(sha256(image), r.header("OCI-Subject"));
        assertEquals(sha256(sbom), r.header("Docker-Content-Digest"));
    }

    @Test
    void referrersListTheArtifacts() {
        String repo = "ref/list";
        byte[] image = oci.pushImage(repo, "v1", "list");
        String subject = sha256(image);
        byte[] sbom = artifact(repo, SBOM, subject, image.length, "sbom");
        byte[] sig = artifact(repo, SIGNATURE, subject, image.length, "sig");
        oci.pushManifest(repo, sha256(sbom), OCI_MANIFEST, sbom);
        oci.pushManifest(repo, "sig-tag", OCI_MANIFEST, sig);

        Oci.Res r = oci.get("/v2/" + repo + "/referrers/" + subject);
        assertEquals(200, r.status(), r::toString);
        assertEquals(OCI_INDEX, r.header("Content-Type"));
        assertNull(r.header("OCI-Filters-Applied"));
        JsonNode index = r.json();
        assertEquals(2, index.path("schemaVersion").asInt());
        assertEquals(OCI_INDEX, index.path("mediaType").asText());
        Map<String, JsonNode> found = byDigest(index);
        assertEquals(Set.of(sha256(sbom), sha256(sig)), found.keySet());

        JsonNode d = found.get(sha256(sbom));
        assertEquals(OCI_MANIFEST, d.path("mediaType").asText());
        assertEquals(sbom.length, d.path("size").asLong());
        assertEquals(SBOM, d.path("artifactType").asText());
        assertEquals("sbom", d.path("annotations").path("org.example.note").asText());
        assertEquals(SIGNATURE, found.get(sha256(sig)).path("artifactType").asText());
    }

    @Test
    void artifactTypeFilter() {
        String repo = "ref/filter";
        byte[] image = oci.pushImage(repo, "v1", "filter");
        String subject = sha256(image);
        byte[] sbom = artifact(repo, SBOM, subject, image.length, "sbom");
        byte[] sig = artifact(repo, SIGNATURE, subject, image.length, "sig");
        oci.pushManifest(repo, sha256(sbom), OCI_MANIFEST, sbom);
        oci.pushManifest(repo, sha256(sig), OCI_MANIFEST, sig);

        Oci.Res r = oci.get("/v2/" + repo + "/referrers/" + subject + "?artifactType=" + SBOM);
        assertEquals(200, r.status(), r::toString);
        assertEquals(OCI_INDEX, r.header("Content-Type"));
        assertEquals("artifactType", r.header("OCI-Filters-Applied"));
        assertEquals(Set.of(sha256(sbom)), byDigest(r.json()).keySet());

        Oci.Res none = oci.get("/v2/" + repo + "/referrers/" + subject + "?artifactType=application/vnd.none");
        assertEquals(200, none.status());
        assertEquals("artifactType", none.header("OCI-Filters-Applied"));
        assertEquals(0, none.json().path("manifests").size());
    }

    @Test
    void artifactTypeFallsBackToTheConfigMediaType() {
        String repo = "ref/configtype";
        byte[] image = oci.pushImage(repo, "v1", "configtype");
        String subject = sha256(image);
        byte[] plain = artifact(repo, null, subject, image.length, "plain");
        oci.pushManifest(repo, sha256(plain), OCI_MANIFEST, plain);
        JsonNode d = byDigest(oci.get("/v2/" + repo + "/referrers/" + subject).json()).get(sha256(plain));
        assertEquals(OCI_EMPTY, d.path("artifactType").asText());
    }

    @Test
    void subjectNeedNotExist() {
        String repo = "ref/dangling";
        oci.pushImage(repo, "v1", "dangling");
        String subject = sha256(random(100, 80));
        byte[] sbom = artifact(repo, SBOM, subject, 100, "dangling");
        Oci.Res r = oci.putManifest(repo, sha256(sbom), OCI_MANIFEST, sbom);
        assertEquals(201, r.status(), r::toString);
        assertEquals(subject, r.header("OCI-Subject"));
        assertEquals(Set.of(sha256(sbom)), byDigest(oci.get("/v2/" + repo + "/referrers/" + subject).json()).keySet());
    }

    @Test
    void unknownSubjectIsAnEmptyList() {
        for (String repo : new String[] {"ref/list", "ref/never-pushed"}) {
            Oci.Res r = oci.get("/v2/" + repo + "/referrers/" + sha256(random(10, 81)));
            assertEquals(200, r.status(), r::toString);
            assertEquals(OCI_INDEX, r.header("Content-Type"));
            JsonNode index = r.json();
            assertEquals(2, index.path("schemaVersion").asInt());
            assertTrue(index.path("manifests").isArray());
            assertEquals(0, index.path("manifests").size());
        }
    }

    @Test
    void referrersAreScopedToTheRepository() {
        byte[] image = oci.pushImage("ref/scope-a", "v1", "scope");
        oci.pushImage("ref/scope-b", "v1", "scope");
        String subject = sha256(image);
        byte[] sbom = artifact("ref/scope-a", SBOM, subject, image.length, "scoped");
        oci.pushManifest("ref/scope-a", sha256(sbom), OCI_MANIFEST, sbom);
        assertEquals(0, oci.get("/v2/ref/scope-b/referrers/" + subject).json().path("manifests").size());
    }

    @Test
    void deletedReferrerDisappears() {
        String repo = "ref/delete";
        byte[] image = oci.pushImage(repo, "v1", "delete");
        String subject = sha256(image);
        byte[] sbom = artifact(repo, SBOM, subject, image.length, "gone");
        oci.pushManifest(repo, sha256(sbom), OCI_MANIFEST, sbom);
        assertEquals(1, oci.get("/v2/" + repo + "/referrers/" + subject).json().path("manifests").size());
        assertEquals(202, oci.delete("/v2/" + repo + "/manifests/" + sha256(sbom)).status());
        assertEquals(0, oci.get("/v2/" + repo + "/referrers/" + subject).json().path("manifests").size());
    }

    @Test
    void invalidDigestIs400() {
        for (String d : new String[] {"latest", "sha256:abc", "sha256:" + "A".repeat(64), "md5:" + "a".repeat(32)}) {
            assertError(oci.get("/v2/ref/list/referrers/" + d), 400, "DIGEST_INVALID");
        }
    }

    @Test
    void invalidSubjectDescriptorIsInvalid() {
        String repo = "ref/badsubject";
        Oci.Blob empty = oci.pushBlob(repo, OCI_EMPTY, utf8("{}"));
        byte[] m = utf8("{\"schemaVersion\":2,\"mediaType\":\"" + OCI_MANIFEST + "\",\"config\":"
                + empty.descriptor() + ",\"layers\":[],\"subject\":{\"digest\":\"sha256:nope\",\"size\":1}}");
        assertError(oci.putManifest(repo, sha256(m), OCI_MANIFEST, m), 400, "MANIFEST_INVALID");
    }
}
