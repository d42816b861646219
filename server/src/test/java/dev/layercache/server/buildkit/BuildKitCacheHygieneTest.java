package dev.layercache.server.buildkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.layercache.server.builds.BuildKitExport;
import dev.layercache.server.core.manifest.BuildKitCache;
import dev.layercache.server.testing.Http;
import dev.layercache.server.testing.TestServer;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Hygiene at push time, over HTTP: a BuildKit registry cache that BuildKit will fail to import or
 * that wastes storage is pushed all the same (201), and the push's answer says what is wrong in a
 * {@code Warning: 299 - "layercache: ..."} header, the build record in its warnings, and
 * {@code layercache_build_warnings_total{builder="buildkit",warning=...}} in a count. Each kind is
 * pushed in both shapes.
 */
class BuildKitCacheHygieneTest {
    private static final Pattern WARNING = Pattern.compile("299 - \"layercache: ([^\"]*)\"");

    @RegisterExtension
    static final TestServer server = new TestServer();

    private static String repo(String what, BuildKitCache.Shape shape) {
        return "hygiene/" + what + "-" + shape.name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** {@code BuildKitExportInsightTest}'s build in mode=max, with {@code padding} content keys more. */
    private static BuildKitExport padded(int padding) {
        BuildKitExport e = TwoStageBuild.export(true, "v1", "make");
        for (int i = 0; i < padding; i++) {
            e.contentKey("pad " + i, "checksum of file " + i);
        }
        return e;
    }

    @ParameterizedTest
    @EnumSource(BuildKitCache.Shape.class)
    void aCacheConfigOverOneMebibyteIsPushedWithAWarning(BuildKitCache.Shape shape) throws Exception {
        // A mode=max export of a big build: 14,000 content-key records of some 85 bytes each.
        RealExport export = RealExport.of(padded(14_000), shape);
        assertTrue(export.config.length > 1 << 20, "the config is " + export.config.length + " bytes");
        String repo = repo("large", shape);
        long before = BuildsApi.warnings(server.port(), "cache_config_too_large");

        Http.Reply pushed = export.push(server.port(), repo, "buildcache");

        assertEquals(201, pushed.status(), pushed.text());
        String mib = String.format(Locale.ROOT, "%.1f MiB", export.config.length / 1048576.0);
        List<String> said = warnings(pushed);
        assertEquals(1, said.size(), pushed.headers().toString());
        assertTrue(said.get(0).contains("cache config is " + mib) && said.get(0).contains("over 1 MiB"), said.get(0));

        JsonNode build = BuildsApi.awaitBuild(server.port(), repo, 1);
        assertEquals(List.of("cache_config_too_large"), BuildsApi.warningKinds(build), build.toString());
        assertTrue(BuildsApi.warningTexts(build).get(0).contains(mib), build.toString());
        assertEquals("first_export", build.path("status").asText(), "still read and compared");
        assertEquals(8, build.path("steps").asInt(), "content keys are no steps");
        awaitCount("cache_config_too_large", before + 1);
    }

    @ParameterizedTest
    @EnumSource(BuildKitCache.Shape.class)
    void aCacheConfigNamingLayersTheRepositoryLacksIsPushedWithAWarning(BuildKitCache.Shape shape) throws Exception {
        RealExport whole = RealExport.of(TwoStageBuild.export(true, "v1", "make"), shape);
        String missing = whole.layerDigests().get(2);
        RealExport export = whole.droppingLayer(missing);
        String repo = repo("missing", shape);
        long before = BuildsApi.warnings(server.port(), "layers_not_in_repository");

        Http.Reply pushed = export.push(server.port(), repo, "buildcache");

        assertEquals(201, pushed.status(), pushed.text());
        assertEquals(404, Http.exchange(server.port(), "HEAD", "/v2/" + repo + "/blobs/" + missing, List.of(), null)
                .status(), "the layer is not there");
        List<String> said = warnings(pushed);
        assertEquals(1, said.size(), pushed.headers().toString());
        assertTrue(said.get(0).contains("1 layer(s) that " + repo + " does not hold, e.g. " + missing), said.get(0));

        JsonNode build = BuildsApi.awaitBuild(server.port(), repo, 1);
        assertEquals(List.of("layers_not_in_repository"), BuildsApi.warningKinds(build), build.toString());
        assertEquals(said.get(0), BuildsApi.warningTexts(build).get(0));
        awaitCount("layers_not_in_repository", before + 1);
    }

    @ParameterizedTest
    @EnumSource(BuildKitCache.Shape.class)
    void oneDiffIdUnderTwoBlobDigestsInTheManifestIsPushedWithAWarning(BuildKitCache.Shape shape) throws Exception {
        RealExport clean = RealExport.of(TwoStageBuild.export(true, "v1", "make"), shape);
        String a = clean.layerDigests().get(0);
        String b = clean.layerDigests().get(1);
        // The descriptors of two blobs say they are one uncompressed layer (gzip and zstd of it, say).
        RealExport export = clean.replacingInManifest(clean.diffId(b), clean.diffId(a));
        assertTwoCompressions(export, repo("diffid-manifest", shape), clean.diffId(a));
    }

    @ParameterizedTest
    @EnumSource(BuildKitCache.Shape.class)
    void oneDiffIdUnderTwoBlobDigestsInTheCacheConfigIsPushedWithAWarning(BuildKitCache.Shape shape)
            throws Exception {
        RealExport clean = RealExport.of(TwoStageBuild.export(true, "v1", "make"), shape);
        String a = clean.layerDigests().get(0);
        String b = clean.layerDigests().get(1);
        // The cache config's layer annotations (diffID) alone say so; the descriptors disagree with it.
        RealExport export = clean.replacingInConfig(clean.diffId(b), clean.diffId(a));
        assertTwoCompressions(export, repo("diffid-config", shape), clean.diffId(a));
    }

    private static void assertTwoCompressions(RealExport export, String repo, String diffId) throws Exception {
        long before = BuildsApi.warnings(server.port(), "diff_id_two_compressions");

        Http.Reply pushed = export.push(server.port(), repo, "buildcache");

        assertEquals(201, pushed.status(), pushed.text());
        List<String> said = warnings(pushed);
        assertEquals(1, said.size(), pushed.headers().toString());
        assertTrue(said.get(0).startsWith("layer " + diffId + " (uncompressed) is stored as 2 blobs"), said.get(0));

        JsonNode build = BuildsApi.awaitBuild(server.port(), repo, 1);
        assertEquals(List.of("diff_id_two_compressions"), BuildsApi.warningKinds(build), build.toString());
        awaitCount("diff_id_two_compressions", before + 1);
    }

    /** The texts of the push answer's {@code Warning} headers (joined by ", " when repeated). */
    private static List<String> warnings(Http.Reply reply) {
        String header = reply.header("Warning");
        assertTrue(header != null, "a Warning header: " + reply.headers());
        List<String> out = new java.util.ArrayList<>();
        Matcher m = WARNING.matcher(header);
        while (m.find()) {
            out.add(m.group(1));
        }
        assertTrue(!out.isEmpty(), header);
        return out;
    }

    /** Waits for the warning's count to reach {@code expected} (a build is counted just after it is listed). */
    private static void awaitCount(String kind, long expected) throws Exception {
        long deadline = System.nanoTime() + 10_000_000_000L;
        long now = BuildsApi.warnings(server.port(), kind);
        while (now < expected && System.nanoTime() < deadline) {
            Thread.sleep(20);
            now = BuildsApi.warnings(server.port(), kind);
        }
        assertEquals(expected, now, kind);
    }
}
