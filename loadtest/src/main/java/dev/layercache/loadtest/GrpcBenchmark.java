package dev.layercache.loadtest;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.layercache.api.v1.Entry;
import dev.layercache.api.v1.EntryCacheGrpc;
import dev.layercache.api.v1.LayerDescriptor;
import dev.layercache.api.v1.PutEntryRequest;
import dev.layercache.api.v1.ReadBlobRequest;
import dev.layercache.api.v1.WriteBlobResponse;
import dev.layercache.client.internal.LargeFrames;
import io.grpc.ChannelCredentials;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The gRPC benchmarks: entry lookups per second with latency percentiles, and blob write and read
 * throughput, the read side by side with the OCI API's download of the same blob and the write
 * side next to this machine's single-core SHA-256 rate (the ceiling of a verified upload) and,
 * with {@code --floor}, next to a bare grpc-java server's stream of as many bytes from memory
 * ({@link GrpcFloorServer}), the ceiling of a download over grpc-java here.
 */
@Command(name = "grpc", mixinStandardHelpOptions = true, description = "gRPC lookups/s and blob MB/s")
final class GrpcBenchmark implements java.util.concurrent.Callable<Integer> {
    @Option(names = "--target", defaultValue = "127.0.0.1:9092", description = "gRPC host:port")
    String target;

    @Option(names = "--http", description = "OCI base URL of the same node, e.g. http://127.0.0.1:5000, to compare downloads")
    String http;

    @Option(names = "--namespace", defaultValue = "bench/grpc")
    String namespace;

    @Option(names = "--duration", defaultValue = "10", description = "seconds of lookups")
    int seconds;

    @Option(names = "--rounds", defaultValue = "5",
            description = "measured rounds of lookups and of downloads, interleaved with the OCI download")
    int rounds;

    @Option(names = "--warmup", defaultValue = "10", description = "seconds of lookups before measuring (JIT)")
    int warmup;

    @Option(names = "--concurrency", defaultValue = "64", description = "lookups in flight")
    int concurrency;

    @Option(names = "--keys", defaultValue = "1000", description = "distinct entries looked up")
    int keys;

    @Option(names = "--blob-mib", defaultValue = "1024", description = "size of the blob written and read")
    int blobMib;

    @Option(names = "--read-warmup-mib", defaultValue = "4096",
            description = "MiB read (in whole reads of the blob, at least one) before the measured reads: "
                    + "the JIT of both processes settles over the first few GiB a download moves")
    int readWarmupMib;

    @Option(names = "--chunk-mib", defaultValue = "1", description = "data per WriteBlob message")
    int chunkMib;

    @Option(names = "--server-pid", description = "the server's process id, when it runs on this machine: "
            + "adds its CPU time per operation, steadier than rates on a shared machine")
    Long serverPid;

    @Option(names = "--floor", description = "host:port of a grpc-floor-server: every ReadBlob round also reads as many "
            + "bytes from it (grpc-java sending from memory), the Java ceiling of the download")
    String floor;

    @Option(names = "--json", description = "write the results here as JSON")
    Path json;

    @Option(names = "--large-frames", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "connect as the client library does: HTTP/2 frames up to 256 KiB from the server,"
                    + " received bytes composed (--no-large-frames: grpc-java's defaults, 16 KiB frames)")
    boolean largeFrames;

    private ManagedChannel floorChannel;

    @Override
    public Integer call() throws Exception {
        // Callbacks run on the event loop: they only count and release a permit.
        // As the client library connects (LargeFrames), unless told to measure grpc-java's defaults.
        ChannelCredentials plaintext = InsecureChannelCredentials.create();
        ManagedChannel channel = channel(target, plaintext);
        floorChannel = floor == null ? null : channel(floor, plaintext);
        Report report = new Report("gRPC benchmarks against " + target);
        try {
            lookups(channel, report);
            blobs(channel, report);
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            if (floorChannel != null) {
                floorChannel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
        }
        System.out.println(report.markdown());
        report.write(json);
        return 0;
    }

    /** A channel to {@code to} as this benchmark connects: the same one for the node and the floor. */
    private ManagedChannel channel(String to, ChannelCredentials plaintext) {
        return NettyChannelBuilder.forTarget(to, largeFrames ? LargeFrames.of(plaintext) : plaintext).directExecutor()
                .flowControlWindow(8 << 20).maxInboundMessageSize(16 << 20).build();
    }

    private void lookups(ManagedChannel channel, Report report) throws Exception {
        byte[] layer = "benchmark layer".getBytes(StandardCharsets.UTF_8);
        String layerDigest = sha256(layer);
        write(channel, layerDigest, UnsafeByteOperations.unsafeWrap(layer), 1, layer.length);
        EntryCacheGrpc.EntryCacheBlockingStub blocking = EntryCacheGrpc.newBlockingStub(channel);
        String[] keyList = new String[keys];
        for (int i = 0; i < keys; i++) {
            keyList[i] = sha256(("bench key " + i).getBytes(StandardCharsets.UTF_8));
            blocking.putEntry(PutEntryRequest.newBuilder().setNamespace(namespace).setEntry(Entry.newBuilder()
                    .setKey(keyList[i]).addLayers(LayerDescriptor.newBuilder().setDigest(layerDigest)
                            .setSize(layer.length).setMediaType("application/vnd.oci.image.layer.v1.tar+gzip")))
                    .build());
        }
        EntryCacheGrpc.EntryCacheStub async = EntryCacheGrpc.newStub(channel);
        // A warm-up round (both JITs compile the hot paths), then the measured rounds, then their medians.
        List<Double> rates = new ArrayList<>();
        List<Double> p99s = new ArrayList<>();
        for (int round = 0; round <= rounds; round++) {
            double cpuBefore = ServerCpu.seconds(serverPid);
            EntryLookups.Result r = EntryLookups.run(async, namespace, keyList, concurrency,
                    round == 0 ? warmup : seconds);
            if (round > 0) {
                Map<String, Object> row = report.row("GetEntry, round " + round);
                row.put("lookups", r.done());
                row.put("failed", r.failed());
                row.put("concurrency", concurrency);
                row.put("lookups_per_s", r.perSecond());
                if (serverPid != null) {
                    row.put("server_cpu_us_per_lookup", (ServerCpu.seconds(serverPid) - cpuBefore) * 1e6 / r.done());
                }
                Report.latencies(row, r.micros());
                rates.add(r.perSecond());
                p99s.add(r.micros().getValueAtPercentile(99) / 1000.0);
            }
        }
        Map<String, Object> summary = report.row("GetEntry, median of " + rounds + " rounds");
        summary.put("lookups_per_s", median(rates));
        summary.put("lookups_per_s_min", Collections.min(rates));
        summary.put("lookups_per_s_max", Collections.max(rates));
        summary.put("p99_ms", median(p99s));
    }

    static double median(List<Double> values) {
        List<Double> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        int n = sorted.size();
        return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
    }

    private void blobs(ManagedChannel channel, Report report) throws Exception {
        byte[] chunk = new byte[chunkMib << 20];
        new java.util.Random(System.nanoTime()).nextBytes(chunk); // new blobs every run
        long size = (long) blobMib << 20;
        double shaMBs = sha256Rate(chunk);

        // A warm-up write (both JITs compile the upload path), then the measured writes, each of a
        // new blob (the first byte of every chunk tells them apart), then their medians.
        String digest = null;
        List<Double> writeRates = new ArrayList<>();
        List<Double> writeCpu = new ArrayList<>();
        for (int round = 0; round <= rounds; round++) {
            chunk[0] = (byte) round;
            digest = digestOfRepeated(chunk, blobMib / chunkMib);
            double cpuBefore = ServerCpu.seconds(serverPid);
            double clientCpuBefore = ServerCpu.seconds(ProcessHandle.current().pid());
            long t0 = System.nanoTime();
            WriteBlobResponse written = write(channel, digest, UnsafeByteOperations.unsafeWrap(chunk), blobMib / chunkMib,
                    size);
            double writeMBs = size / 1e6 / ((System.nanoTime() - t0) / 1e9);
            if (round == 0) {
                continue;
            }
            Map<String, Object> w = report.row("WriteBlob " + blobMib + " MiB, run " + round);
            w.put("MB_per_s", writeMBs);
            writeRates.add(writeMBs);
            if (serverPid != null) {
                double cpu = (ServerCpu.seconds(serverPid) - cpuBefore) / (size / (double) (1L << 30));
                w.put("server_cpu_s_per_GiB", cpu);
                writeCpu.add(cpu);
            }
            w.put("client_cpu_s_per_GiB",
                    (ServerCpu.seconds(ProcessHandle.current().pid()) - clientCpuBefore) / (size / (double) (1L << 30)));
            w.put("already_existed", written.getAlreadyExisted());
        }
        Map<String, Object> w = report.row("WriteBlob " + blobMib + " MiB, median of " + rounds + " runs");
        w.put("MB_per_s", median(writeRates));
        w.put("MB_per_s_min", writeRates.stream().min(Double::compare).orElseThrow());
        w.put("MB_per_s_max", writeRates.stream().max(Double::compare).orElseThrow());
        if (!writeCpu.isEmpty()) {
            w.put("server_cpu_s_per_GiB", median(writeCpu));
        }
        w.put("single_core_sha256_MB_per_s", shaMBs);
        w.put("share_of_sha256_rate", median(writeRates) / shaMBs);

        int warmupReads = Math.max(1, (readWarmupMib + blobMib - 1) / blobMib);
        for (int i = 0; i < warmupReads; i++) {
            read(channel, digest);
            if (floorChannel != null) {
                readFloor(size);
            }
        }
        List<Double> grpcRates = new ArrayList<>();
        List<Double> curlRates = new ArrayList<>();
        List<Double> floorRates = new ArrayList<>();
        for (int run = 1; run <= rounds; run++) {
            Map<String, Object> r = report.row("ReadBlob " + blobMib + " MiB, run " + run);
            double readCpu = ServerCpu.seconds(serverPid);
            double clientCpu = ServerCpu.seconds(ProcessHandle.current().pid());
            long t0 = System.nanoTime();
            long got = read(channel, digest);
            if (got != size) {
                throw new IllegalStateException("ReadBlob of " + digest + " gave " + got + " of " + size + " bytes");
            }
            r.put("client_cpu_s_per_GiB",
                    (ServerCpu.seconds(ProcessHandle.current().pid()) - clientCpu) / (got / (double) (1L << 30)));
            double rate = got / 1e6 / ((System.nanoTime() - t0) / 1e9);
            r.put("MB_per_s", rate);
            grpcRates.add(rate);
            if (serverPid != null) {
                r.put("server_cpu_s_per_GiB", (ServerCpu.seconds(serverPid) - readCpu) / (got / (double) (1L << 30)));
            }
            // The OCI download of the same blob, by curl: what the HTTP surface does with sendfile.
            if (http != null && Files.isExecutable(Path.of("/usr/bin/curl"))) {
                t0 = System.nanoTime();
                Process curl = new ProcessBuilder("/usr/bin/curl", "-sf", "-o", "/dev/null",
                        http + "/v2/" + namespace + "/blobs/" + digest).start();
                if (curl.waitFor() == 0) {
                    double oci = size / 1e6 / ((System.nanoTime() - t0) / 1e9);
                    r.put("oci_download_curl_MB_per_s", oci);
                    curlRates.add(oci);
                }
            }
            if (floorChannel != null) {
                t0 = System.nanoTime();
                readFloor(size);
                double floorRate = size / 1e6 / ((System.nanoTime() - t0) / 1e9);
                r.put("grpc_floor_MB_per_s", floorRate);
                floorRates.add(floorRate);
            }
        }
        Map<String, Object> summary = report.row("ReadBlob " + blobMib + " MiB, median of " + rounds + " runs");
        summary.put("MB_per_s", median(grpcRates));
        if (!curlRates.isEmpty()) {
            summary.put("oci_download_curl_MB_per_s", median(curlRates));
            summary.put("ratio", median(grpcRates) / median(curlRates));
        }
        if (!floorRates.isEmpty()) {
            summary.put("grpc_floor_MB_per_s", median(floorRates));
            summary.put("ratio_to_grpc_floor", median(grpcRates) / median(floorRates));
        }
    }

    /** Reads {@code size} bytes from the floor server; fails unless all of them came. */
    private void readFloor(long size) throws Exception {
        long got = BlobStreams.read(floorChannel, ReadBlobRequest.newBuilder().setNamespace(namespace)
                .setDigest("sha256:" + "0".repeat(64)).setLimit(size).build(), new AtomicLong());
        if (got != size) {
            throw new IllegalStateException("the gRPC floor sent " + got + " of " + size + " bytes");
        }
    }

    private long read(ManagedChannel channel, String digest) throws Exception {
        return BlobStreams.read(channel, namespace, digest, new AtomicLong());
    }

    /** Streams {@code count} copies of {@code chunk} under flow control. */
    private WriteBlobResponse write(ManagedChannel channel, String digest, ByteString chunk, int count, long size)
            throws Exception {
        return BlobStreams.write(channel, namespace, digest, chunk, count, size, new AtomicBoolean(), new AtomicLong());
    }

    /** This machine's single-core SHA-256 rate over 256 MiB, the ceiling of a verified upload. */
    private static double sha256Rate(byte[] chunk) throws Exception {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        int count = Math.max(1, (256 << 20) / chunk.length);
        for (int i = 0; i < count; i++) {
            sha.update(chunk); // warm-up
        }
        long t0 = System.nanoTime();
        for (int i = 0; i < count; i++) {
            sha.update(chunk);
        }
        return count * (chunk.length / 1e6) / ((System.nanoTime() - t0) / 1e9);
    }

    private static String digestOfRepeated(byte[] chunk, int count) throws Exception {
        return BlobStreams.digestOfRepeated(chunk, count);
    }

    private static String sha256(byte[] b) throws Exception {
        return BlobStreams.sha256(b);
    }
}
