package dev.layercache.loadtest;

import com.google.protobuf.UnsafeByteOperations;
import dev.layercache.api.v1.Entry;
import dev.layercache.api.v1.EntryCacheGrpc;
import dev.layercache.api.v1.LayerDescriptor;
import dev.layercache.api.v1.PutEntryRequest;
import dev.layercache.api.v1.WriteBlobResponse;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code GetEntry} latency while other clients move GiB blobs through the same node, next to the
 * same lookups on a quiet node: whether lookups queue behind transfers. Half of the transfer
 * clients write fresh blobs ({@code WriteBlob}, digests computed before the rounds), half read one
 * blob again and again ({@code ReadBlob}). Every round measures each node quiet and busy, the
 * order turning each round, and each {@code --target} gets its turn before the next round.
 */
@Command(name = "grpc-transfers", mixinStandardHelpOptions = true,
        description = "GetEntry p99, quiet and while clients move GiB blobs")
final class LookupsDuringTransfers implements java.util.concurrent.Callable<Integer> {
    @Option(names = "--target", required = true,
            description = "NAME=HOST:PORT of a node's gRPC port; repeat to measure builds side by side")
    List<String> targets;

    @Option(names = "--server-pid", split = ",", description = "process ids of the targets, in order: adds their CPU")
    List<Long> pids = new ArrayList<>();

    @Option(names = "--namespace", defaultValue = "bench/transfers")
    String namespace;

    @Option(names = "--lookup-concurrency", defaultValue = "8", description = "lookups in flight")
    int concurrency;

    @Option(names = "--keys", defaultValue = "1000")
    int keys;

    @Option(names = "--transfer-clients", defaultValue = "4", description = "clients moving blobs (half write, half read)")
    int transferClients;

    @Option(names = "--blob-mib", defaultValue = "1024")
    int blobMib;

    @Option(names = "--duration", defaultValue = "10", description = "seconds of lookups per mode and round")
    int seconds;

    @Option(names = "--warmup", defaultValue = "10", description = "seconds of quiet lookups first (JIT)")
    int warmup;

    @Option(names = "--rounds", defaultValue = "3")
    int rounds;

    @Option(names = "--transfers-to", description = "move the blobs through this node instead of the one "
            + "looked up (HOST:PORT): the lookups' node then does no transfer work of its own, and what is "
            + "left of their tail is the machine's cores shared with the transfers, whatever a node does")
    String transfersTo;

    @Option(names = "--json", description = "write the results here as JSON")
    Path json;

    private EventLoopGroup lookupLoops;
    private EventLoopGroup transferLoops;

    /** A node, the lookups' channel to it, and the address the transfer clients open their own channels to. */
    private record Node(String name, String target, ManagedChannel channel, Long pid, String[] keys,
                        String readDigest) {
    }

    /** One writer's fresh blobs: the first bytes of its chunk tell them apart. */
    private record Fresh(byte[] chunk, List<String> digests, AtomicInteger next) {
    }

    @Override
    public Integer call() throws Exception {
        byte[] readChunk = chunk(-1, 0);
        String readDigest = digestOfRepeated(readChunk);
        int writers = transferClients / 2;
        // Enough fresh blobs for every busy phase (a write of a GiB takes seconds); hashed now, not
        // while measuring. A writer that runs out writes its first ones again (then nothing moves).
        int perWriter = Math.max(2, rounds * Math.max(2, seconds / 4));
        List<List<String>> freshDigests = new ArrayList<>();
        for (int w = 0; w < writers; w++) {
            List<String> digests = new ArrayList<>();
            for (int k = 0; k < perWriter; k++) {
                digests.add(digestOfRepeated(chunk(w, k)));
            }
            freshDigests.add(digests);
        }
        List<Node> nodes = new ArrayList<>();
        lookupLoops = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        transferLoops = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
        for (int i = 0; i < targets.size(); i++) {
            String[] t = targets.get(i).split("=", 2);
            ManagedChannel channel = channel(t[1], lookupLoops);
            String[] keyList = prepare(channel, readChunk, readDigest);
            if (transfersTo != null && i == 0) {
                ManagedChannel sink = channel(transfersTo, transferLoops);
                try {
                    write(sink, readDigest, readChunk, blobMib, (long) blobMib << 20, new AtomicBoolean(),
                            new AtomicLong());
                } finally {
                    sink.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
                }
            }
            nodes.add(new Node(t[0], t[1], channel, i < pids.size() ? pids.get(i) : null, keyList, readDigest));
        }
        Report report = new Report("GetEntry during blob transfers");
        try {
            for (Node node : nodes) {
                lookups(node, warmup); // JIT on both sides
            }
            Map<String, Map<Boolean, List<Double>>> p99 = new LinkedHashMap<>();
            Map<String, Map<Boolean, List<Double>>> p50 = new LinkedHashMap<>();
            Map<String, Integer> used = new LinkedHashMap<>();
            for (int round = 1; round <= rounds; round++) {
                List<Node> order = new ArrayList<>(nodes);
                if (round % 2 == 0) {
                    Collections.reverse(order);
                }
                for (Node node : order) {
                    List<Boolean> modes = round % 2 == 1 ? List.of(false, true) : List.of(true, false);
                    for (boolean busy : modes) {
                        Map<String, Object> row = report.row(node.name() + ", " + (busy ? transferClients
                                + " clients moving " + blobMib + " MiB blobs" : "quiet") + ", round " + round);
                        Map<String, Object> figures;
                        if (busy) {
                            int start = used.getOrDefault(node.name(), 0);
                            figures = busy(node, readChunk, freshDigests, start);
                            used.put(node.name(), start + ((Number) figures.remove("fresh_used")).intValue());
                        } else {
                            figures = lookups(node, seconds);
                        }
                        row.putAll(figures);
                        p99.computeIfAbsent(node.name(), n -> new LinkedHashMap<>())
                                .computeIfAbsent(busy, b -> new ArrayList<>()).add((Double) figures.get("p99_ms"));
                        p50.computeIfAbsent(node.name(), n -> new LinkedHashMap<>())
                                .computeIfAbsent(busy, b -> new ArrayList<>()).add((Double) figures.get("p50_ms"));
                    }
                }
            }
            for (Node node : nodes) {
                for (boolean busy : List.of(false, true)) {
                    List<Double> values = p99.get(node.name()).get(busy);
                    Map<String, Object> row = report.row(node.name() + ", " + (busy ? "during transfers" : "quiet")
                            + ", median of " + rounds + " rounds");
                    row.put("p50_ms", GrpcBenchmark.median(p50.get(node.name()).get(busy)));
                    row.put("p99_ms", GrpcBenchmark.median(values));
                    row.put("p99_ms_min", Collections.min(values));
                    row.put("p99_ms_max", Collections.max(values));
                }
            }
        } finally {
            for (Node node : nodes) {
                node.channel().shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            }
            lookupLoops.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            transferLoops.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        }
        System.out.println(report.markdown());
        report.write(json);
        return 0;
    }

    /**
     * A channel on event loops of its own: the lookups' apart from the transfer clients', as on
     * different machines. On grpc's shared client loops a lookup's answer would wait behind the
     * transfers' megabyte messages in this process, before or after the server had answered it.
     */
    private static ManagedChannel channel(String target, EventLoopGroup loops) {
        // Callbacks on the event loop: they only count, release a permit or drop a buffer.
        return NettyChannelBuilder.forTarget(target).usePlaintext().directExecutor()
                .eventLoopGroup(loops).channelType(NioSocketChannel.class)
                .flowControlWindow(8 << 20).maxInboundMessageSize(16 << 20).build();
    }

    /** The entries looked up (each names one small layer) and the blob the readers read. */
    private String[] prepare(ManagedChannel channel, byte[] readChunk, String readDigest) throws Exception {
        byte[] layer = "lookup layer".getBytes(StandardCharsets.UTF_8);
        String layerDigest = sha256(layer);
        write(channel, layerDigest, layer, 1, layer.length, new AtomicBoolean(), new AtomicLong());
        write(channel, readDigest, readChunk, blobMib, (long) blobMib << 20, new AtomicBoolean(), new AtomicLong());
        EntryCacheGrpc.EntryCacheBlockingStub stub = EntryCacheGrpc.newBlockingStub(channel);
        String[] keyList = new String[keys];
        for (int i = 0; i < keys; i++) {
            keyList[i] = sha256(("transfers key " + i).getBytes(StandardCharsets.UTF_8));
            stub.putEntry(PutEntryRequest.newBuilder().setNamespace(namespace).setEntry(Entry.newBuilder()
                    .setKey(keyList[i]).addLayers(LayerDescriptor.newBuilder().setDigest(layerDigest)
                            .setSize(layer.length).setMediaType("application/vnd.oci.image.layer.v1.tar"))).build());
        }
        return keyList;
    }

    /** Lookups for {@code duration} seconds while the transfer clients run. */
    private Map<String, Object> busy(Node node, byte[] readChunk, List<List<String>> freshDigests, int firstFresh)
            throws Exception {
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong written = new AtomicLong();
        AtomicLong read = new AtomicLong();
        AtomicLong skipped = new AtomicLong();
        AtomicInteger freshUsed = new AtomicInteger();
        List<Thread> clients = new ArrayList<>();
        // Cancelled at the end: transfers in progress stop rather than make the next phase wait.
        Context.CancellableContext transfers = Context.current().withCancellation();
        // Each client on a connection of its own, as builders on other machines would be: on the
        // lookups' connection their data frames would hold the lookups up in the client's own
        // HTTP/2 connection, before the server sees them.
        List<ManagedChannel> channels = new ArrayList<>();
        for (int c = 0; c < transferClients; c++) {
            int client = c;
            boolean writer = c < freshDigests.size();
            ManagedChannel channel = channel(transfersTo != null ? transfersTo : node.target(), transferLoops);
            channels.add(channel);
            Thread t = new Thread(transfers.wrap(() -> {
                int k = firstFresh;
                while (!stop.get()) {
                    try {
                        if (writer) {
                            List<String> digests = freshDigests.get(client);
                            int index = k++ % digests.size();
                            freshUsed.incrementAndGet();
                            WriteBlobResponse r = write(channel, digests.get(index), chunk(client, index),
                                    blobMib, (long) blobMib << 20, stop, written);
                            if (r == null) {
                                return;
                            }
                            if (r.getAlreadyExisted()) {
                                skipped.addAndGet((long) blobMib << 20);
                            }
                        } else {
                            read(channel, node.readDigest(), read);
                        }
                    } catch (Exception e) {
                        if (!stop.get()) {
                            System.err.println("transfer client " + client + ": " + e);
                        }
                        return;
                    }
                }
            }), "transfer-" + c);
            t.setDaemon(true);
            t.start();
            clients.add(t);
        }
        Thread.sleep(2000); // every transfer under way before the clock starts
        long bytesBefore = written.get() + read.get();
        long t0 = System.nanoTime();
        Map<String, Object> figures = lookups(node, seconds);
        double elapsed = (System.nanoTime() - t0) / 1e9;
        long bytesDuring = written.get() + read.get() - bytesBefore;
        stop.set(true);
        transfers.cancel(null);
        for (Thread t : clients) {
            t.join(TimeUnit.SECONDS.toMillis(60));
        }
        for (ManagedChannel channel : channels) {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        figures.put("transfer_MB_per_s", bytesDuring / 1e6 / elapsed);
        figures.put("sent_GiB", written.get() / (double) (1L << 30));
        figures.put("received_GiB", read.get() / (double) (1L << 30));
        figures.put("writes_already_present_GiB", skipped.get() / (double) (1L << 30));
        figures.put("fresh_used", freshUsed.get());
        return figures;
    }

    /** GetEntry with {@code concurrency} in flight for {@code duration} seconds. */
    private Map<String, Object> lookups(Node node, int duration) throws Exception {
        double cpuBefore = ServerCpu.seconds(node.pid());
        EntryLookups.Result r = EntryLookups.run(EntryCacheGrpc.newStub(node.channel()), namespace, node.keys(),
                concurrency, duration);
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("lookups_per_s", r.perSecond());
        row.put("failed", r.failed());
        Report.latencies(row, r.micros());
        if (node.pid() != null) {
            row.put("server_cpu_s_per_s", (ServerCpu.seconds(node.pid()) - cpuBefore) / r.seconds());
        }
        return row;
    }

    /** Reads a blob, counting its bytes into {@code bytes} as they come. */
    private long read(ManagedChannel channel, String digest, AtomicLong bytes) throws Exception {
        return BlobStreams.read(channel, namespace, digest, bytes);
    }

    /** Streams {@code count} copies of {@code chunk} under flow control, counting into {@code sent}; null when stopped first. */
    private WriteBlobResponse write(ManagedChannel channel, String digest, byte[] chunk, int count, long size,
                                    AtomicBoolean stop, AtomicLong sent) throws Exception {
        return BlobStreams.write(channel, namespace, digest, UnsafeByteOperations.unsafeWrap(chunk), count, size, stop,
                sent);
    }

    /** 1 MiB of pseudo-random bytes; blob {@code index} of writer {@code writer} starts with both. */
    private static byte[] chunk(int writer, int index) {
        byte[] chunk = new byte[1 << 20];
        new java.util.Random(7).nextBytes(chunk);
        chunk[0] = (byte) writer;
        chunk[1] = (byte) index;
        chunk[2] = (byte) (index >> 8);
        return chunk;
    }

    private String digestOfRepeated(byte[] chunk) throws Exception {
        return BlobStreams.digestOfRepeated(chunk, blobMib);
    }

    private static String sha256(byte[] b) throws Exception {
        return BlobStreams.sha256(b);
    }
}
