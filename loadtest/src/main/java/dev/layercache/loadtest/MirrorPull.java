package dev.layercache.loadtest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * An image pulled through a node's pull-through mirror, next to the same pull straight from the
 * upstream registry it mirrors (say CNCF Distribution): the first, cold pull (the node fetches,
 * verifies and stores every blob while it serves them) and a warm one (served from the node's
 * store). A pull is what a client does: {@code GET} of the manifest by tag, then of every blob it
 * names, one after the other on one keep-alive connection; the client counts the bytes and drops
 * them (the first pull of each path is hashed and checked, the measured ones are not, so that the
 * servers' cost shows).
 *
 * <p>Each round seeds a new image into the upstream (random layers of {@code --layers-mib}, pushed
 * before the clock starts), so the cold pull is the node's first sight of every blob in it, on a
 * node whose JIT has warmed up like a node in service: a fresh node per round would measure the
 * JVM's start as well. The four single pulls of a round (cold through the mirror, the same image
 * straight from the upstream, the warm image through the mirror and straight from the upstream)
 * turn their order every round; then {@code --concurrency} pullers at once pull each way.
 */
@Command(name = "mirror-pull", mixinStandardHelpOptions = true,
        description = "Image pulls through a node's pull-through mirror against the same pulls from the upstream")
final class MirrorPull implements Callable<Integer> {
    private static final String ACCEPT = Oci.MANIFEST_TYPE
            + ", application/vnd.docker.distribution.manifest.v2+json";
    private static final String LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar";
    private static final double GIB = 1L << 30;

    @Option(names = "--mirror", required = true, description = "the node's base URL (http://127.0.0.1:5000)")
    URI mirror;

    @Option(names = "--upstream", required = true, description = "the upstream registry's base URL, as the node has it")
    URI upstream;

    @Option(names = "--mirror-name", defaultValue = "bench.test",
            description = "the name the node mirrors the upstream under (--mirror NAME=URL)")
    String mirrorName;

    @Option(names = "--repository", defaultValue = "bench/image", description = "the image's repository upstream")
    String repository;

    @Option(names = "--layers-mib", split = ",", defaultValue = "2,8,32,64,1", description = "layer sizes, MiB")
    List<Integer> layersMib;

    @Option(names = "--rounds", defaultValue = "5")
    int rounds;

    @Option(names = "--warmup", defaultValue = "3", description = "unmeasured pulls of each kind first (JIT)")
    int warmup;

    @Option(names = "--concurrency", defaultValue = "8", description = "pullers at once in the concurrent pulls; 0 skips them")
    int concurrency;

    @Option(names = "--mirror-pid", description = "the node's process id: adds its CPU per GiB pulled")
    Long mirrorPid;

    @Option(names = "--upstream-pid", description = "the upstream's process id: adds its CPU per GiB pulled")
    Long upstreamPid;

    @Option(names = "--work-dir", defaultValue = "/dev/shm", description = "where layers are made before the push")
    Path workDir;

    @Option(names = "--json", description = "write every pull's figures and the summary here")
    Path json;

    /** One blob of an image: wire-form digest and size. */
    record Blob(String digest, long size) {
    }

    /** An image seeded upstream: its tag and the blobs its manifest names (config first). */
    record Image(String tag, List<Blob> blobs) {
        long bytes() {
            return blobs.stream().mapToLong(Blob::size).sum();
        }
    }

    /** One measured pull, or a batch of concurrent ones. */
    record Pull(String kind, int round, int pullers, double seconds, List<Double> eachSeconds, long bytes,
                double nodeCpu, double upstreamCpu) {
        Map<String, Object> figures() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("kind", kind);
            m.put("round", round);
            m.put("pullers", pullers);
            m.put("seconds", seconds);
            m.put("each_pull_seconds", eachSeconds);
            m.put("bytes", bytes);
            m.put("MB_per_s", bytes / 1e6 / seconds);
            m.put("node_cpu_s_per_GiB", nodeCpu / (bytes / GIB));
            m.put("upstream_cpu_s_per_GiB", upstreamCpu / (bytes / GIB));
            return m;
        }
    }

    private final ObjectMapper mapper = new ObjectMapper();
    private int seeded;

    @Override
    public Integer call() throws Exception {
        Image warm = seed();
        // The node's first pull of it is cold: verified here, hashing every blob on both paths.
        pull(mirror, mirrorName + "/" + repository, warm, true);
        pull(upstream, repository, warm, true);
        for (int i = 0; i < warmup; i++) {
            Image cold = seed();
            pull(mirror, mirrorName + "/" + repository, cold, false);
            pull(upstream, repository, cold, false);
            pull(mirror, mirrorName + "/" + repository, warm, false);
            if (concurrency > 0) {
                concurrent(mirror, mirrorName + "/" + repository, warm);
            }
        }
        List<Pull> pulls = new ArrayList<>();
        for (int round = 1; round <= rounds; round++) {
            Image cold = seed();
            List<String> kinds = new ArrayList<>(List.of("mirror-cold", "upstream-cold-image", "mirror-warm",
                    "upstream-warm-image"));
            java.util.Collections.rotate(kinds, round);
            for (String kind : kinds) {
                boolean viaMirror = kind.startsWith("mirror");
                Image image = kind.contains("cold") ? cold : warm;
                pulls.add(measure(kind, round, 1, viaMirror, image));
            }
            if (concurrency > 0) {
                Image coldTogether = seed();
                List<String> together = new ArrayList<>(List.of("mirror-cold", "mirror-warm", "upstream"));
                java.util.Collections.rotate(together, round);
                for (String kind : together) {
                    pulls.add(measure(kind + "-x" + concurrency, round, concurrency, kind.startsWith("mirror"),
                            kind.equals("mirror-cold") ? coldTogether : warm));
                }
            }
            System.err.printf("round %d of %d done%n", round, rounds);
        }
        String markdown = markdown(warm, pulls);
        System.out.println(markdown);
        if (json != null) {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("image_blobs", warm.blobs());
            out.put("image_bytes", warm.bytes());
            out.put("rounds", rounds);
            out.put("concurrency", concurrency);
            out.put("pulls", pulls.stream().map(Pull::figures).toList());
            out.put("markdown", markdown);
            Files.write(json, mapper.enable(SerializationFeature.INDENT_OUTPUT).writeValueAsBytes(out));
        }
        return 0;
    }

    private Pull measure(String kind, int round, int pullers, boolean viaMirror, Image image) throws Exception {
        URI base = viaMirror ? mirror : upstream;
        String repo = viaMirror ? mirrorName + "/" + repository : repository;
        settle();
        double node = ServerCpu.seconds(mirrorPid);
        double up = ServerCpu.seconds(upstreamPid);
        long t0 = System.nanoTime();
        List<Double> each = pullers == 1 ? List.of(pull(base, repo, image, false)) : concurrent(base, repo, image);
        double seconds = (System.nanoTime() - t0) / 1e9;
        settle();
        return new Pull(kind, round, pullers, seconds, each, image.bytes() * pullers,
                ServerCpu.seconds(mirrorPid) - node, ServerCpu.seconds(upstreamPid) - up);
    }

    /**
     * Waits until neither server's CPU time has moved for 300 ms (5 s at most): work a pull leaves
     * behind once its bytes are out (a commit, a flush, metadata) is charged to that pull, not to
     * the next one. No-op without process ids.
     */
    private void settle() throws IOException, InterruptedException {
        if (mirrorPid == null && upstreamPid == null) {
            return;
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        double last = ServerCpu.seconds(mirrorPid) + ServerCpu.seconds(upstreamPid);
        int still = 0;
        while (still < 3 && System.nanoTime() < deadline) {
            Thread.sleep(100);
            double now = ServerCpu.seconds(mirrorPid) + ServerCpu.seconds(upstreamPid);
            still = now == last ? still + 1 : 0;
            last = now;
        }
    }

    /** {@code concurrency} pulls of {@code image} at once, each on its own connection: their wall times. */
    private List<Double> concurrent(URI base, String repo, Image image) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(concurrency);
        try {
            List<Future<Double>> each = new ArrayList<>();
            for (int i = 0; i < concurrency; i++) {
                each.add(pool.submit(() -> pull(base, repo, image, false)));
            }
            List<Double> seconds = new ArrayList<>();
            for (Future<Double> f : each) {
                seconds.add(f.get(10, TimeUnit.MINUTES));
            }
            return seconds;
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * One pull as a client makes it: the manifest by tag, then every blob it names, on one fresh
     * connection. Returns the wall time from the manifest's request to the last blob's last byte.
     */
    private double pull(URI base, String repo, Image image, boolean verify) throws IOException {
        try (HttpConnection c = new HttpConnection(base, 1 << 20)) {
            long t0 = System.nanoTime();
            String manifestPath = "/v2/" + repo + "/manifests/" + image.tag();
            HttpConnection.Response m = c.send("GET", manifestPath, Map.of("Accept", ACCEPT), HttpConnection.Body.KEEP);
            Oci.expect(m, 200, "GET " + manifestPath + " on " + base);
            JsonNode manifest = mapper.readTree(m.body());
            List<Blob> named = new ArrayList<>();
            named.add(blob(manifest.get("config")));
            manifest.get("layers").forEach(l -> named.add(blob(l)));
            if (!named.equals(image.blobs())) {
                throw new IOException(base + " served a manifest naming " + named + ", not " + image.blobs());
            }
            for (Blob b : named) {
                String path = Oci.blobPath(repo, b.digest());
                MessageDigest sha = verify ? RandomContent.sha256() : null;
                HttpConnection.Response r = verify ? c.get(path, sha)
                        : c.send("GET", path, Map.of(), HttpConnection.Body.DISCARD);
                Oci.expect(r, 200, "GET " + path + " on " + base);
                if (r.bodyLength() != b.size()) {
                    throw new IOException("GET " + path + " on " + base + " gave " + r.bodyLength()
                            + " bytes, not " + b.size());
                }
                if (verify && !RandomContent.digest(sha).equals(b.digest())) {
                    throw new IOException("GET " + path + " on " + base + " gave bytes of another digest");
                }
            }
            return (System.nanoTime() - t0) / 1e9;
        }
    }

    private static Blob blob(JsonNode descriptor) {
        return new Blob(descriptor.get("digest").asText(), descriptor.get("size").asLong());
    }

    /**
     * Pushes a new image to the upstream: random layers (made in {@code --work-dir}, pushed with
     * sendfile, then deleted), a config naming them, and an OCI manifest under a new tag.
     */
    private Image seed() throws IOException {
        String tag = "pull-" + ProcessHandle.current().pid() + "-" + (++seeded);
        List<Blob> layers = new ArrayList<>();
        try (HttpConnection c = new HttpConnection(upstream)) {
            for (int mib : layersMib) {
                Path file = Files.createTempFile(workDir, "mirror-pull-layer", ".bin");
                try {
                    long size = (long) mib << 20;
                    String digest = RandomContent.file(file, size);
                    try (FileChannel in = FileChannel.open(file)) {
                        Oci.pushBlob(c, repository, in, size, digest);
                    }
                    layers.add(new Blob(digest, size));
                } finally {
                    Files.deleteIfExists(file);
                }
            }
            // The layers are uncompressed tars to a client (random bytes; nobody unpacks them), so
            // their diff ids are their digests and the config is a valid one.
            StringBuilder diffIds = new StringBuilder();
            layers.forEach(l -> diffIds.append(diffIds.isEmpty() ? "" : ",").append('"').append(l.digest()).append('"'));
            byte[] config = ("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Labels\":{\"tag\":\"" + tag
                    + "\"}},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[" + diffIds + "]}}")
                    .getBytes(StandardCharsets.UTF_8);
            Blob configBlob = new Blob(RandomContent.digestOf(config), config.length);
            Oci.pushBlob(c, repository, config, configBlob.digest());
            StringBuilder manifest = new StringBuilder("{\"schemaVersion\":2,\"mediaType\":\"")
                    .append(Oci.MANIFEST_TYPE).append("\",\"config\":").append(descriptor(
                            "application/vnd.oci.image.config.v1+json", configBlob)).append(",\"layers\":[");
            for (int i = 0; i < layers.size(); i++) {
                manifest.append(i == 0 ? "" : ",").append(descriptor(LAYER_TYPE, layers.get(i)));
            }
            Oci.putManifest(c, repository, tag, manifest.append("]}").toString());
            List<Blob> blobs = new ArrayList<>();
            blobs.add(configBlob);
            blobs.addAll(layers);
            return new Image(tag, blobs);
        }
    }

    private static String descriptor(String mediaType, Blob b) {
        return "{\"mediaType\":\"" + mediaType + "\",\"digest\":\"" + b.digest() + "\",\"size\":" + b.size() + "}";
    }

    /** The table: per kind of pull, wall time, MB/s and CPU per GiB (median and spread over the rounds). */
    private String markdown(Image image, List<Pull> pulls) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(java.util.Locale.ROOT, "Image: a config and %d layers (%s MiB of random bytes), "
                + "%s MB in all; %d rounds, medians and spreads (min–max).%n%n", layersMib.size(),
                String.join(", ", layersMib.stream().map(String::valueOf).toList()),
                Stats.number(image.bytes() / 1e6), rounds));
        sb.append("| pull | pullers | wall time per pull, s | MB/s (all pullers) | node CPU-s per GiB "
                + "| upstream CPU-s per GiB |\n|---|---|---|---|---|---|\n");
        List<String> kinds = pulls.stream().map(Pull::kind).distinct().toList();
        for (String kind : kinds) {
            List<Pull> of = pulls.stream().filter(p -> p.kind().equals(kind)).toList();
            List<Double> each = of.stream().flatMap(p -> p.eachSeconds().stream()).toList();
            sb.append("| ").append(kind).append(" | ").append(of.get(0).pullers()).append(" | ")
                    .append(Stats.of(each).text()).append(" | ")
                    .append(Stats.of(of.stream().map(p -> p.bytes() / 1e6 / p.seconds()).toList()).text()).append(" | ")
                    .append(mirrorPid == null ? "" : Stats.of(of.stream().map(p -> p.nodeCpu() / (p.bytes() / GIB))
                            .toList()).text()).append(" | ")
                    .append(upstreamPid == null ? "" : Stats.of(of.stream()
                            .map(p -> p.upstreamCpu() / (p.bytes() / GIB)).toList()).text()).append(" |\n");
        }
        // The cold pull's overhead, paired within each round: the same image straight from the upstream.
        List<Double> extra = new ArrayList<>();
        List<Double> ratio = new ArrayList<>();
        List<Double> warmRatio = new ArrayList<>();
        for (int round = 1; round <= rounds; round++) {
            double cold = seconds(pulls, "mirror-cold", round);
            double direct = seconds(pulls, "upstream-cold-image", round);
            extra.add(cold - direct);
            ratio.add(cold / direct);
            warmRatio.add(seconds(pulls, "mirror-warm", round) / seconds(pulls, "upstream-warm-image", round));
        }
        sb.append("\nCold through the mirror against the same image straight from the upstream, paired by round: ")
                .append(Stats.of(extra).text()).append(" s more, ").append(Stats.of(ratio).text())
                .append("× the time. Warm through the mirror against the upstream: ")
                .append(Stats.of(warmRatio).text()).append("× the time.\n");
        return sb.toString();
    }

    private static double seconds(List<Pull> pulls, String kind, int round) {
        return pulls.stream().filter(p -> p.kind().equals(kind) && p.round() == round).findFirst()
                .orElseThrow().seconds();
    }
}
