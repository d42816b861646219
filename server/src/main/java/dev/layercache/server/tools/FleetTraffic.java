package dev.layercache.server.tools;

import static dev.layercache.server.tools.FleetDocuments.sha256;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.layercache.server.core.MediaTypes;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.LongAdder;

/**
 * The simulated fleet's side of {@link FleetWeek}: its projects, the builds they run (buildah-style
 * per-step tags, BuildKit-style cache exports) and the hourly cleanup job, all through the node's
 * HTTP API, and the counts of what they did. Builds run on the caller's threads, many at once; an
 * answer the simulation did not expect is counted as an error (the first few are printed) and the
 * build goes on.
 */
final class FleetTraffic {
    private static final String BUILDCACHE = "buildcache";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What the fleet did since the simulation began. */
    record Totals(long builds, long stepTags, long hits, long exports, long deletions, long repushes, long errors) {
    }

    /** A project: its repository, and the version of each step's inputs (a change bumps one). */
    private static final class Project {
        final String repository;
        final boolean buildkit;
        private final long[] versions;

        Project(String repository, boolean buildkit, int steps) {
            this.repository = repository;
            this.buildkit = buildkit;
            this.versions = new long[steps];
        }

        synchronized long[] nextBuild(SplittableRandom random, double changeRate) {
            if (random.nextDouble() < changeRate) {
                versions[random.nextInt(versions.length)]++;
            }
            return versions.clone();
        }
    }

    private final FleetOptions options;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();
    private final List<Project> projects = new ArrayList<>();
    private final LongAdder builds = new LongAdder();
    private final LongAdder stepTags = new LongAdder();
    private final LongAdder hits = new LongAdder();
    private final LongAdder exports = new LongAdder();
    private final LongAdder deletions = new LongAdder();
    private final LongAdder errors = new LongAdder();
    private final LongAdder repushes = new LongAdder();
    /** Step tags pushed this hour: what the cleanup job picks from an hour later. */
    private ConcurrentLinkedQueue<String[]> pushedThisHour = new ConcurrentLinkedQueue<>();
    /** Step tags pushed the hour before: what the cleanup job picks from at the end of this one. */
    private ConcurrentLinkedQueue<String[]> pushedHourBefore = new ConcurrentLinkedQueue<>();
    /** The node's HTTP address; it changes with every start (free ports). */
    private volatile String base;

    FleetTraffic(FleetOptions options) {
        this.options = options;
        for (int i = 0; i < options.projects(); i++) {
            boolean buildkit = i < options.buildkitProjects();
            projects.add(new Project(String.format(Locale.ROOT, "fleet/%s-%02d", buildkit ? "buildkit" : "buildah", i),
                    buildkit, options.steps()));
        }
    }

    /** Sends the traffic to the node that listens on this port from now on. */
    void target(int httpPort) {
        base = "http://127.0.0.1:" + httpPort;
    }

    Totals totals() {
        return new Totals(builds.sum(), stepTags.sum(), hits.sum(), exports.sum(), deletions.sum(), repushes.sum(),
                errors.sum());
    }

    static void await(List<Future<?>> futures) throws Exception {
        for (Future<?> f : futures) {
            f.get();
        }
    }

    /** Build {@code number} of the simulation: its project and its changes are drawn from the number. */
    void build(long number) {
        SplittableRandom random = new SplittableRandom(options.seed() * 1_000_003 + number);
        Project project = projects.get(random.nextInt(projects.size()));
        long[] versions = project.nextBuild(random, options.changeRate());
        List<Layer> chain = new ArrayList<>(versions.length);
        String parent = project.repository;
        for (int i = 0; i < versions.length; i++) {
            String key = Layer.stepKey(parent, i, versions[i]);
            chain.add(Layer.of(key, options.layerMinBytes(), options.layerMaxBytes()));
            parent = key;
        }
        try {
            if (project.buildkit) {
                buildkit(project, chain);
            } else {
                buildah(project, chain);
            }
            builds.increment();
        } catch (IOException e) {
            fail(project.repository + " build " + number + ": " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * buildah's per-step cache: look the step key up as a tag; on a miss push the step's layer,
     * its config and its image (every layer so far), tagged with the key.
     */
    private void buildah(Project p, List<Layer> chain) throws IOException, InterruptedException {
        for (int i = 0; i < chain.size(); i++) {
            Layer step = chain.get(i);
            int status = send(request("/v2/" + p.repository + "/manifests/" + step.key()).GET()
                    .header("Accept", MediaTypes.OCI_MANIFEST)).statusCode();
            if (status == 200) {
                hits.increment();
                continue;
            }
            expect(status, 404, "GET step manifest");
            pushBlob(p.repository, step.content(), step.digest());
            byte[] config = FleetDocuments.imageConfig(chain.subList(0, i + 1));
            String configDigest = sha256(config);
            pushBlob(p.repository, config, configDigest);
            byte[] manifest = FleetDocuments.imageManifest(configDigest, config.length, chain.subList(0, i + 1));
            HttpResponse<byte[]> put = putManifest(p.repository, step.key(), MediaTypes.OCI_MANIFEST, manifest);
            if (blobsCollectedMeanwhile(put)) {
                // An earlier step's tag was evicted (and its layer collected) since this build
                // found it: push the layers again, as buildah would on its next build.
                for (Layer l : chain.subList(0, i)) {
                    pushBlob(p.repository, l.content(), l.digest());
                }
                put = putManifest(p.repository, step.key(), MediaTypes.OCI_MANIFEST, manifest);
            }
            expect(put.statusCode(), 201, "PUT step manifest");
            stepTags.increment();
            pushedThisHour.add(new String[] {p.repository, step.key()});
        }
    }

    /**
     * BuildKit with {@code --export-cache type=registry,ref=...:buildcache,mode=max}: import the
     * previous export (index and cache config), rebuild from the first step it does not hold,
     * then export every layer with a new cache config under the same tag.
     */
    private void buildkit(Project p, List<Layer> chain) throws IOException, InterruptedException {
        HttpResponse<byte[]> previous = send(request("/v2/" + p.repository + "/manifests/" + BUILDCACHE).GET()
                .header("Accept", MediaTypes.OCI_INDEX));
        Set<String> exported = new HashSet<>();
        if (previous.statusCode() == 200) {
            for (JsonNode child : JSON.readTree(previous.body()).path("manifests")) {
                exported.add(child.path("digest").asText());
                if (MediaTypes.BUILDKIT_CACHE_CONFIG.equals(child.path("mediaType").asText())) {
                    int status = send(request("/v2/" + p.repository + "/blobs/" + child.path("digest").asText())
                            .GET()).statusCode();
                    expect(status, 200, "GET cache config");
                }
            }
        } else {
            expect(previous.statusCode(), 404, "GET buildcache");
        }
        boolean cascade = false;
        for (Layer step : chain) {
            cascade |= !exported.contains(step.digest());
            if (cascade) {
                pushBlob(p.repository, step.content(), step.digest());
            } else {
                hits.increment();
                // The exporter checks each layer before it names it; a collected one goes up again.
                int status = send(request("/v2/" + p.repository + "/blobs/" + step.digest())
                        .method("HEAD", HttpRequest.BodyPublishers.noBody())).statusCode();
                if (status == 404) {
                    pushBlob(p.repository, step.content(), step.digest());
                } else {
                    expect(status, 200, "HEAD layer");
                }
            }
        }
        byte[] cacheConfig = FleetDocuments.cacheConfig(chain);
        String cacheConfigDigest = sha256(cacheConfig);
        pushBlob(p.repository, cacheConfig, cacheConfigDigest);
        byte[] index = FleetDocuments.cacheIndex(chain, cacheConfigDigest, cacheConfig.length);
        HttpResponse<byte[]> put = putManifest(p.repository, BUILDCACHE, MediaTypes.OCI_INDEX, index);
        if (blobsCollectedMeanwhile(put)) {
            // The previous export was evicted after its layers were checked, and they went with it.
            for (Layer l : chain) {
                pushBlob(p.repository, l.content(), l.digest());
            }
            put = putManifest(p.repository, BUILDCACHE, MediaTypes.OCI_INDEX, index);
        }
        expect(put.statusCode(), 201, "PUT buildcache");
        exports.increment();
    }

    /**
     * The cleanup job, at the end of an hour: deletes a share of the step tags pushed the hour
     * before (some are evicted already); this hour's tags are its candidates an hour later.
     */
    void cleanupHourBefore(ExecutorService pool, SplittableRandom random) throws Exception {
        List<String[]> all = new ArrayList<>(pushedHourBefore);
        Collections.shuffle(all, new Random(random.nextLong()));
        List<Future<?>> running = new ArrayList<>();
        for (String[] tag : all.subList(0, (int) Math.round(all.size() * options.deleteShare()))) {
            running.add(pool.submit(() -> {
                try {
                    int status = send(request("/v2/" + tag[0] + "/manifests/" + tag[1]).DELETE()).statusCode();
                    if (status == 202) {
                        deletions.increment();
                    } else {
                        expect(status, 404, "DELETE tag");
                    }
                } catch (IOException e) {
                    fail("DELETE " + tag[0] + ":" + tag[1] + ": " + e);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }));
        }
        await(running);
        pushedHourBefore = pushedThisHour;
        pushedThisHour = new ConcurrentLinkedQueue<>();
    }

    // ------------------------------------------------------------------ HTTP

    private HttpRequest.Builder request(String path) {
        return HttpRequest.newBuilder(URI.create(base + path)).timeout(Duration.ofSeconds(60));
    }

    private HttpResponse<byte[]> send(HttpRequest.Builder request) throws IOException, InterruptedException {
        return http.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    private void pushBlob(String repository, byte[] content, String digest) throws IOException, InterruptedException {
        int status = send(request("/v2/" + repository + "/blobs/uploads/?digest=" + digest)
                .POST(HttpRequest.BodyPublishers.ofByteArray(content))
                .header("Content-Type", "application/octet-stream")).statusCode();
        expect(status, 201, "POST blob");
    }

    private HttpResponse<byte[]> putManifest(String repository, String reference, String mediaType, byte[] body)
            throws IOException, InterruptedException {
        return send(request("/v2/" + repository + "/manifests/" + reference)
                .PUT(HttpRequest.BodyPublishers.ofByteArray(body)).header("Content-Type", mediaType));
    }

    /**
     * True when a manifest was refused because blobs it names are gone: the root that held them was
     * evicted after the build saw them, and a release outranks the grace a read gave them. Counted,
     * and the build pushes the blobs again.
     */
    private boolean blobsCollectedMeanwhile(HttpResponse<byte[]> put) {
        boolean gone = put.statusCode() == 400
                && new String(put.body(), StandardCharsets.UTF_8).contains("MANIFEST_BLOB_UNKNOWN");
        if (gone) {
            repushes.increment();
        }
        return gone;
    }

    private void expect(int status, int wanted, String what) {
        if (status != wanted) {
            fail(what + ": HTTP " + status);
        }
    }

    private void fail(String what) {
        errors.increment();
        if (errors.sum() <= 20) {
            System.err.println("fleet week: unexpected answer: " + what);
        }
    }
}
