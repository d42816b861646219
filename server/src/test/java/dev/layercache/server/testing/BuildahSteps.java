package dev.layercache.server.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * buildah's cache traffic, request by request, for tests that need builds on a node (REAL-CLIENTS.md
 * records what the real buildah sends): one {@code GET manifests/<64-hex step key>} per step until
 * the first 404, then a push of a layer, a config whose history ends with the step's instruction,
 * and a manifest under each step key built. The server groups these into builds (docs/builds.md).
 */
public final class BuildahSteps {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String MANIFEST = "application/vnd.oci.image.manifest.v1+json";

    private BuildahSteps() {
    }

    /** The step key of a step: 64 lowercase hex digits, as buildah names its cache tags. */
    public static String key(String step) {
        return Registry.sha256(step.getBytes(StandardCharsets.UTF_8)).substring("sha256:".length());
    }

    /** buildah asking whether a step is cached: the HTTP status (200: reused, 404: it will build it). */
    public static int lookup(Registry registry, String repo, String key) throws IOException, InterruptedException {
        return registry.get("/v2/" + repo + "/manifests/" + key).statusCode();
    }

    /** What buildah's {@code --cache-to} pushes for a step it built, named {@code createdBy} in the history. */
    public static void push(Registry registry, String repo, String key, String createdBy)
            throws IOException, InterruptedException {
        byte[] layer = ("layer of " + repo + " " + key).getBytes(StandardCharsets.UTF_8);
        byte[] config = ("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\""
                + Registry.sha256(layer) + "\"]},\"history\":[{\"created_by\":\"/bin/sh -c #(nop) ADD file:0 in /\"},"
                + "{\"created_by\":" + JSON.writeValueAsString(createdBy) + "}]}").getBytes(StandardCharsets.UTF_8);
        assertEquals(201, registry.pushBlob(repo, layer));
        assertEquals(201, registry.pushBlob(repo, config));
        assertEquals(201, registry.pushManifest(repo, key, MANIFEST, Registry.imageManifest(config, layer)));
    }
}
