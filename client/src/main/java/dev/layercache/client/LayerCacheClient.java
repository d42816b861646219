package dev.layercache.client;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.layercache.api.v1.BatchGetEntriesRequest;
import dev.layercache.api.v1.BatchGetEntriesResponse;
import dev.layercache.api.v1.BatchUpdateBlobsRequest;
import dev.layercache.api.v1.BatchUpdateBlobsResponse;
import dev.layercache.api.v1.BlobData;
import dev.layercache.api.v1.BlobsGrpc;
import dev.layercache.api.v1.DeleteEntryRequest;
import dev.layercache.api.v1.EntryCacheGrpc;
import dev.layercache.api.v1.ExplainBuildRequest;
import dev.layercache.api.v1.FindMissingBlobsRequest;
import dev.layercache.api.v1.GetEntryRequest;
import dev.layercache.api.v1.GetManifestRequest;
import dev.layercache.api.v1.GetManifestResponse;
import dev.layercache.api.v1.ManifestsGrpc;
import dev.layercache.api.v1.PutEntryRequest;
import dev.layercache.api.v1.PutManifestRequest;
import dev.layercache.api.v1.StatBlobRequest;
import dev.layercache.client.internal.BearerToken;
import dev.layercache.client.internal.Errors;
import dev.layercache.client.internal.LargeFrames;
import dev.layercache.client.internal.Parallel;
import dev.layercache.client.internal.Protos;
import dev.layercache.client.internal.Retrier;
import dev.layercache.client.internal.StaticTargets;
import dev.layercache.client.internal.Transfers;
import io.grpc.CallCredentials;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.TlsChannelCredentials;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.AbstractStub;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * A client of a layercache server's gRPC API: cache entries by key (with explanations of
 * misses), content-addressed blobs in and out, and OCI manifests. Thread-safe; build one per
 * server (or cluster) and share it; {@link #close()} it when done.
 *
 * <pre>{@code
 * try (LayerCacheClient client = LayerCacheClient.builder()
 *         .target("cache.example.com:9092")
 *         .tls()
 *         .bearerToken(System.getenv("LAYERCACHE_TOKEN"))
 *         .build()) {
 *     LookupResult r = client.getEntry("team/app", Lookup.of(step));
 *     ...
 * }
 * }</pre>
 *
 * <p><b>Errors.</b> Calls throw {@link LayerCacheException} (unchecked) with the gRPC status
 * code; methods that read or write local files also throw {@link IOException}. A lookup miss,
 * an unknown blob in {@link #statBlob} and an unknown manifest in {@link #getManifest} are
 * results, not errors.
 *
 * <p><b>Retries.</b> Every call is retried on {@code UNAVAILABLE} and
 * {@code RESOURCE_EXHAUSTED}, and on a connection lost under the call (grpc-java's
 * {@code UNKNOWN} "channel closed"), as the {@link RetryPolicy} says; blob streams that break
 * are resumed where they stopped. Each retry is reported to the {@link ClientListener}; the
 * client never logs.
 *
 * <p><b>Memory.</b> Blobs are streamed in chunks with gRPC flow control, never held whole, so
 * any size moves in constant memory.
 */
public final class LayerCacheClient implements AutoCloseable {
    /** The largest message the client accepts: a 4 MiB batch and its framing, with room to spare. */
    private static final int MAX_INBOUND_MESSAGE = 16 << 20;
    /** Bytes a server may send on one stream before the client has taken them (the server's own window). */
    private static final int FLOW_CONTROL_WINDOW = 8 << 20;
    /** Blobs up to this size are uploaded together in BatchUpdateBlobs calls. */
    private static final int SMALL_BLOB = 256 << 10;
    /** The data of one BatchUpdateBlobs call (the server takes at most 4 MiB). */
    private static final int BATCH_BYTES = 3 << 20;
    private static final int MAX_DIGESTS_PER_CALL = 10_000;
    private static final int MAX_LOOKUPS_PER_CALL = 1_000;

    private final ManagedChannel channel;
    private final boolean ownsChannel;
    private final String target;
    private final Optional<CallCredentials> credentials;
    private final Duration deadline;
    private final Retrier retrier;
    private final Transfers transfers;
    private final int parallelism;
    private final ClientListener listener;

    private LayerCacheClient(Builder b) {
        this.target = b.describeTarget();
        if (b.channel != null) {
            this.channel = b.channel;
            this.ownsChannel = false;
        } else {
            this.channel = b.openChannel();
            this.ownsChannel = true;
        }
        this.credentials = b.token == null ? Optional.empty() : Optional.of(new BearerToken(b.token));
        this.deadline = b.deadline;
        this.retrier = new Retrier(b.retryPolicy, b.listener, () -> channel.resetConnectBackoff(), target);
        this.transfers = new Transfers(channel, credentials, retrier, b.listener, b.chunkSize,
                Optional.ofNullable(b.transferAttemptDeadline), Optional.of(deadline), ownsChannel);
        this.parallelism = b.parallelism;
        this.listener = b.listener;
    }

    /** A builder; a target is required. */
    public static Builder builder() {
        return new Builder();
    }

    /** The target, as given to the builder. */
    public String target() {
        return target;
    }

    // ---------------------------------------------------------------------------------------
    // Entries

    /** Looks up a bare key (a miss is then unexplained). */
    public LookupResult getEntry(String namespace, CacheKey key) {
        return getEntry(namespace, Lookup.of(requireNonNull(key, "key")));
    }

    /**
     * Looks up a key; with a step identity in {@code lookup}, a miss says why it missed.
     *
     * @throws LayerCacheException when the call fails (INVALID_ARGUMENT for a malformed namespace)
     */
    public LookupResult getEntry(String namespace, Lookup lookup) {
        requireNonNull(namespace, "namespace");
        requireNonNull(lookup, "lookup");
        GetEntryRequest.Builder request = GetEntryRequest.newBuilder().setNamespace(namespace)
                .setKey(lookup.key().toString());
        lookup.step().ifPresent(s -> request.setStep(Protos.toProto(s)));
        try {
            return LookupResult.hit(Protos.fromProto(retrier.call("GetEntry",
                    () -> entries().getEntry(request.build())).getEntry()));
        } catch (LayerCacheException e) {
            if (e.code() != Status.Code.NOT_FOUND) {
                throw e;
            }
            MissExplanation miss = Errors.detail(e.getCause(), dev.layercache.api.v1.MissExplanation.class)
                    .map(Protos::fromProto).orElseGet(() -> Protos.unexplained(lookup));
            return LookupResult.miss(lookup.key(), miss);
        }
    }

    /** Looks up several keys (the steps of a build, typically); one result per lookup, in order. */
    public List<LookupResult> batchGetEntries(String namespace, List<Lookup> lookups) {
        requireNonNull(namespace, "namespace");
        requireNonNull(lookups, "lookups");
        List<LookupResult> results = new ArrayList<>(lookups.size());
        for (int from = 0; from < lookups.size(); from += MAX_LOOKUPS_PER_CALL) {
            List<Lookup> part = lookups.subList(from, Math.min(lookups.size(), from + MAX_LOOKUPS_PER_CALL));
            BatchGetEntriesRequest.Builder request = BatchGetEntriesRequest.newBuilder().setNamespace(namespace);
            part.forEach(l -> request.addLookups(Protos.toProto(requireNonNull(l, "lookups element"))));
            BatchGetEntriesResponse response = retrier.call("BatchGetEntries",
                    () -> entries().batchGetEntries(request.build()));
            if (response.getResultsCount() != part.size()) {
                throw new LayerCacheException(Status.Code.INTERNAL, "BatchGetEntries: " + part.size()
                        + " lookups but " + response.getResultsCount() + " results", null);
            }
            for (int i = 0; i < part.size(); i++) {
                results.add(Protos.fromProto(response.getResults(i), part.get(i)));
            }
        }
        return results;
    }

    /**
     * Publishes an entry; every layer must already be a blob of the namespace (see
     * {@link #uploadBlobs}). Returns the entry as stored, with its creation time.
     *
     * @throws LayerCacheException FAILED_PRECONDITION with {@link LayerCacheException#missingBlobs()}
     *     when layers are missing
     */
    public CacheEntry putEntry(String namespace, CacheEntry entry) {
        requireNonNull(namespace, "namespace");
        requireNonNull(entry, "entry");
        PutEntryRequest request = PutEntryRequest.newBuilder().setNamespace(namespace)
                .setEntry(Protos.toProto(entry)).build();
        return Protos.fromProto(retrier.call("PutEntry", () -> entries().putEntry(request)).getEntry());
    }

    /** Removes an entry; false when there was none. A later lookup of the key misses as EVICTED. */
    public boolean deleteEntry(String namespace, CacheKey key) {
        requireNonNull(namespace, "namespace");
        requireNonNull(key, "key");
        DeleteEntryRequest request = DeleteEntryRequest.newBuilder().setNamespace(namespace)
                .setKey(key.toString()).build();
        return retrier.call("DeleteEntry", () -> entries().deleteEntry(request)).getDeleted();
    }

    /**
     * Explains a build: for its lookups in build order, which hit, why each miss missed, and the
     * root cause. At most 1,000 lookups.
     */
    public BuildExplanation explainBuild(String namespace, List<Lookup> lookups) {
        requireNonNull(namespace, "namespace");
        requireNonNull(lookups, "lookups");
        ExplainBuildRequest.Builder request = ExplainBuildRequest.newBuilder().setNamespace(namespace);
        lookups.forEach(l -> request.addSteps(Protos.toProto(requireNonNull(l, "lookups element"))));
        return Protos.fromProto(retrier.call("ExplainBuild", () -> entries().explainBuild(request.build())),
                List.copyOf(lookups));
    }

    // ---------------------------------------------------------------------------------------
    // Blobs

    /** The digests the namespace does not have, in the order given (duplicates removed). */
    public List<Digest> findMissingBlobs(String namespace, Collection<Digest> digests) {
        requireNonNull(namespace, "namespace");
        requireNonNull(digests, "digests");
        List<Digest> unique = new ArrayList<>(new LinkedHashSet<>(digests));
        List<Digest> missing = new ArrayList<>();
        for (int from = 0; from < unique.size(); from += MAX_DIGESTS_PER_CALL) {
            FindMissingBlobsRequest.Builder request = FindMissingBlobsRequest.newBuilder().setNamespace(namespace);
            unique.subList(from, Math.min(unique.size(), from + MAX_DIGESTS_PER_CALL))
                    .forEach(d -> request.addDigests(requireNonNull(d, "digests element").toString()));
            for (String d : retrier.call("FindMissingBlobs", () -> blobs().findMissingBlobs(request.build()))
                    .getMissingList()) {
                missing.add(Digest.parse(d));
            }
        }
        return missing;
    }

    /** The size of a blob, or empty when the namespace does not have it. */
    public OptionalLong statBlob(String namespace, Digest digest) {
        requireNonNull(namespace, "namespace");
        requireNonNull(digest, "digest");
        StatBlobRequest request = StatBlobRequest.newBuilder().setNamespace(namespace)
                .setDigest(digest.toString()).build();
        try {
            return OptionalLong.of(retrier.call("StatBlob", () -> blobs().statBlob(request)).getSize());
        } catch (LayerCacheException e) {
            if (e.code() == Status.Code.NOT_FOUND) {
                return OptionalLong.empty();
            }
            throw e;
        }
    }

    /**
     * Streams a blob into {@code out} (not closed) and verifies its digest; returns its size.
     * A broken stream resumes from the offset it reached. On failure, {@code out} holds a
     * prefix of the blob.
     *
     * @throws LayerCacheException NOT_FOUND, DATA_LOSS when the bytes do not verify, UNAVAILABLE
     * @throws IOException when writing to {@code out} fails
     */
    public long downloadBlob(String namespace, Digest digest, OutputStream out) throws IOException {
        requireNonNull(namespace, "namespace");
        requireNonNull(digest, "digest");
        requireNonNull(out, "out");
        return transfers.download(namespace, digest, out);
    }

    /**
     * Downloads a blob to a file, which appears (atomically replaced) only once its digest
     * verified; a temporary file in the same directory holds the bytes until then. Returns the size.
     */
    public long downloadBlob(String namespace, Digest digest, Path target) throws IOException {
        requireNonNull(namespace, "namespace");
        requireNonNull(digest, "digest");
        requireNonNull(target, "target");
        Path dir = target.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path temp = dir.resolve("." + target.getFileName() + "." + UUID.randomUUID() + ".part");
        boolean done = false;
        try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            OutputStream out = new BufferedOutputStream(Channels.newOutputStream(ch), 1 << 16);
            long size = transfers.download(namespace, digest, out);
            out.flush();
            ch.force(true);
            done = true;
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            return size;
        } finally {
            if (!done) {
                Files.deleteIfExists(temp);
            }
        }
    }

    /**
     * Downloads blobs to files, at most {@link Builder#parallelism(int)} at a time. A target file
     * that exists already is trusted to hold its blob and skipped (content-addressed
     * directories), unless {@code overwrite}.
     */
    public TransferSummary downloadBlobs(String namespace, Map<Digest, Path> targets, boolean overwrite)
            throws IOException {
        requireNonNull(namespace, "namespace");
        requireNonNull(targets, "targets");
        List<Parallel.Task<TransferSummary>> tasks = new ArrayList<>();
        int skipped = 0;
        for (Map.Entry<Digest, Path> t : new LinkedHashMap<>(targets).entrySet()) {
            Digest digest = requireNonNull(t.getKey(), "targets key");
            Path path = requireNonNull(t.getValue(), "targets value");
            if (!overwrite && Files.isRegularFile(path)) {
                skipped++;
                continue;
            }
            tasks.add(() -> new TransferSummary(1, 0, downloadBlob(namespace, digest, path)));
        }
        TransferSummary summary = new TransferSummary(0, skipped, 0);
        for (TransferSummary s : Parallel.run(tasks, parallelism)) {
            summary = summary.plus(s);
        }
        return summary;
    }

    /**
     * Uploads one blob unless the namespace already has it; returns true when bytes were sent,
     * false when the server had it. A broken stream resumes from what the server committed,
     * reopening {@code source} at that offset. The server verifies the size and digest before the
     * blob becomes visible.
     *
     * @throws LayerCacheException INVALID_ARGUMENT when the bytes do not match the digest or size
     * @throws IOException when the source fails or is shorter than {@code size}
     */
    public boolean uploadBlob(String namespace, Digest digest, long size, BlobSource source) throws IOException {
        requireNonNull(namespace, "namespace");
        requireNonNull(digest, "digest");
        requireNonNull(source, "source");
        if (size < 0) {
            throw new IllegalArgumentException("size must not be negative: " + size);
        }
        return transfers.upload(namespace, digest, size, source);
    }

    /** Hashes a file (SHA-256) and uploads it unless the namespace has it; returns its digest. */
    public Digest uploadFile(String namespace, Path file) throws IOException {
        requireNonNull(file, "file");
        BlobUpload upload = BlobUpload.ofFile(file);
        uploadBlob(namespace, upload.digest(), upload.size(), upload.source());
        return upload.digest();
    }

    /**
     * Uploads the blobs the namespace lacks (asked first with FindMissingBlobs), at most
     * {@link Builder#parallelism(int)} at a time; small blobs go together in BatchUpdateBlobs
     * calls. Blobs already present are counted as skipped.
     */
    public TransferSummary uploadBlobs(String namespace, Collection<BlobUpload> uploads) throws IOException {
        requireNonNull(namespace, "namespace");
        requireNonNull(uploads, "uploads");
        Map<Digest, BlobUpload> byDigest = new LinkedHashMap<>();
        for (BlobUpload u : uploads) {
            byDigest.putIfAbsent(requireNonNull(u, "uploads element").digest(), u);
        }
        List<Digest> missing = findMissingBlobs(namespace, byDigest.keySet());
        int skipped = byDigest.size() - missing.size();
        List<Parallel.Task<TransferSummary>> tasks = new ArrayList<>();
        List<BlobUpload> batch = new ArrayList<>();
        long batchBytes = 0;
        for (Digest d : missing) {
            BlobUpload u = byDigest.get(d);
            if (u == null) {
                continue;
            }
            if (u.size() <= SMALL_BLOB) {
                if (batchBytes + u.size() > BATCH_BYTES) {
                    List<BlobUpload> full = List.copyOf(batch);
                    tasks.add(() -> uploadBatch(namespace, full));
                    batch.clear();
                    batchBytes = 0;
                }
                batch.add(u);
                batchBytes += u.size();
            } else {
                tasks.add(() -> {
                    boolean sent = uploadBlob(namespace, u.digest(), u.size(), u.source());
                    return sent ? new TransferSummary(1, 0, u.size()) : new TransferSummary(0, 1, 0);
                });
            }
        }
        if (!batch.isEmpty()) {
            List<BlobUpload> last = List.copyOf(batch);
            tasks.add(() -> uploadBatch(namespace, last));
        }
        TransferSummary summary = new TransferSummary(0, skipped, 0);
        for (TransferSummary s : Parallel.run(tasks, parallelism)) {
            summary = summary.plus(s);
        }
        return summary;
    }

    private TransferSummary uploadBatch(String namespace, List<BlobUpload> batch) throws IOException {
        BatchUpdateBlobsRequest.Builder request = BatchUpdateBlobsRequest.newBuilder().setNamespace(namespace);
        long bytes = 0;
        for (BlobUpload u : batch) {
            byte[] data;
            try (var in = u.source().open(0)) {
                data = in.readNBytes((int) u.size());
            }
            if (data.length != u.size()) {
                throw new IOException("the source of " + u.digest() + " has " + data.length + " bytes, not "
                        + u.size());
            }
            bytes += data.length;
            request.addBlobs(BlobData.newBuilder().setDigest(u.digest().toString())
                    .setData(UnsafeByteOperations.unsafeWrap(data)));
        }
        for (BlobUpload u : batch) {
            listener.onTransfer(new TransferEvent(TransferEvent.Kind.STARTED, TransferEvent.Direction.UPLOAD,
                    namespace, u.digest(), 0, u.size()));
        }
        BatchUpdateBlobsResponse response = retrier.call("BatchUpdateBlobs",
                () -> blobs().batchUpdateBlobs(request.build()));
        if (response.getBlobsCount() != batch.size()) {
            throw new LayerCacheException(Status.Code.INTERNAL, "BatchUpdateBlobs: " + batch.size()
                    + " blobs but " + response.getBlobsCount() + " results", null);
        }
        for (int i = 0; i < batch.size(); i++) {
            BlobData result = response.getBlobs(i);
            if (result.hasStatus() && result.getStatus().getCode() != Status.Code.OK.value()) {
                Status.Code code = Status.fromCodeValue(result.getStatus().getCode()).getCode();
                throw new LayerCacheException(code, "BatchUpdateBlobs " + result.getDigest() + ": " + code
                        + (result.getStatus().getMessage().isEmpty() ? "" : ": " + result.getStatus().getMessage()),
                        null);
            }
            BlobUpload u = batch.get(i);
            listener.onTransfer(new TransferEvent(TransferEvent.Kind.COMPLETED, TransferEvent.Direction.UPLOAD,
                    namespace, u.digest(), u.size(), u.size()));
        }
        return new TransferSummary(batch.size(), 0, bytes);
    }

    // ---------------------------------------------------------------------------------------
    // Manifests

    /**
     * Stores a manifest under a tag or its digest; every blob it references must be in the
     * namespace. Returns the manifest's digest. Manifests stored here are served by the OCI API.
     */
    public Digest putManifest(String namespace, String reference, String mediaType, byte[] content) {
        requireNonNull(namespace, "namespace");
        requireNonNull(reference, "reference");
        requireNonNull(mediaType, "mediaType");
        requireNonNull(content, "content");
        PutManifestRequest request = PutManifestRequest.newBuilder().setNamespace(namespace).setReference(reference)
                .setMediaType(mediaType).setContent(ByteString.copyFrom(content)).build();
        return Digest.parse(retrier.call("PutManifest", () -> manifests().putManifest(request)).getDigest());
    }

    /** A manifest by tag or digest, or empty when there is none. */
    public Optional<Manifest> getManifest(String namespace, String reference) {
        requireNonNull(namespace, "namespace");
        requireNonNull(reference, "reference");
        GetManifestRequest request = GetManifestRequest.newBuilder().setNamespace(namespace)
                .setReference(reference).build();
        try {
            GetManifestResponse r = retrier.call("GetManifest", () -> manifests().getManifest(request));
            return Optional.of(new Manifest(Digest.parse(r.getDigest()), r.getMediaType(),
                    r.getContent().toByteArray()));
        } catch (LayerCacheException e) {
            if (e.code() == Status.Code.NOT_FOUND) {
                return Optional.empty();
            }
            throw e;
        }
    }

    /** Closes the connections (unless the channel was given to the builder). */
    @Override
    public void close() {
        if (ownsChannel) {
            channel.shutdown();
            try {
                if (!channel.awaitTermination(5, TimeUnit.SECONDS)) {
                    channel.shutdownNow();
                }
            } catch (InterruptedException e) {
                channel.shutdownNow();
                Thread.currentThread().interrupt();
            }
        }
    }

    private <S extends AbstractStub<S>> S prepare(S stub) {
        S s = stub.withDeadlineAfter(deadline.toNanos(), TimeUnit.NANOSECONDS);
        return credentials.isPresent() ? s.withCallCredentials(credentials.get()) : s;
    }

    private EntryCacheGrpc.EntryCacheBlockingStub entries() {
        return prepare(EntryCacheGrpc.newBlockingStub(channel));
    }

    private BlobsGrpc.BlobsBlockingStub blobs() {
        return prepare(BlobsGrpc.newBlockingStub(channel));
    }

    private ManifestsGrpc.ManifestsBlockingStub manifests() {
        return prepare(ManifestsGrpc.newBlockingStub(channel));
    }

    /**
     * Configures a {@link LayerCacheClient}. Defaults: TLS with the system's trusted
     * certificates, no token, a 30 s deadline per call, {@link RetryPolicy#defaults()}, 1 MiB
     * chunks, 4 parallel transfers, no listener.
     */
    public static final class Builder {
        private final List<StaticTargets.HostPort> hostPorts = new ArrayList<>();
        private String uriTarget;
        private ManagedChannel channel;
        private boolean plaintext;
        private Path caFile;
        private Path clientCertChain;
        private Path clientKey;
        private String token;
        private Duration deadline = Duration.ofSeconds(30);
        private Duration transferAttemptDeadline;
        private RetryPolicy retryPolicy = RetryPolicy.defaults();
        private ClientListener listener = ClientListener.NONE;
        private int chunkSize = 1 << 20;
        private int parallelism = 4;

        private Builder() {
        }

        /**
         * The server: {@code host:port}; several separated by commas ({@code a:9092,b:9092}),
         * between which calls are balanced round robin; or a gRPC target URI such as
         * {@code dns:///cache.example.com:9092} (every address the name resolves to, round robin).
         */
        public Builder target(String target) {
            requireNonNull(target, "target");
            hostPorts.clear();
            uriTarget = null;
            if (target.contains("://") || target.startsWith("dns:")) {
                uriTarget = target;
            } else {
                for (String part : target.split(",")) {
                    if (!part.isBlank()) {
                        hostPorts.add(StaticTargets.HostPort.parse(part));
                    }
                }
                if (hostPorts.isEmpty()) {
                    throw new IllegalArgumentException("no target in \"" + target + "\"");
                }
            }
            return this;
        }

        /** Several {@code host:port} targets, balanced round robin. */
        public Builder targets(List<String> targets) {
            requireNonNull(targets, "targets");
            return target(String.join(",", targets));
        }

        /**
         * A channel of the caller's (for example in-process, or with options this builder lacks);
         * the client does not close it. The target, TLS and CA options are then ignored.
         */
        public Builder channel(ManagedChannel channel) {
            this.channel = requireNonNull(channel, "channel");
            return this;
        }

        /** No TLS: for a server on a trusted network or behind a TLS-terminating proxy. */
        public Builder plaintext() {
            this.plaintext = true;
            return this;
        }

        /** TLS, trusting the system's certificate authorities (the default). */
        public Builder tls() {
            this.plaintext = false;
            this.caFile = null;
            return this;
        }

        /** TLS, trusting the certificate authorities of a PEM file. */
        public Builder tls(Path caFile) {
            this.plaintext = false;
            this.caFile = requireNonNull(caFile, "caFile");
            return this;
        }

        /**
         * Presents a client certificate in the TLS handshake, for a server that requires one
         * ({@code grpc-client-ca}). Implies TLS; combine with {@link #tls(Path)} for a private CA.
         *
         * @param certChain PEM certificate chain, the client's certificate first
         * @param key       its unencrypted PEM private key (PKCS#8)
         */
        public Builder clientCertificate(Path certChain, Path key) {
            this.clientCertChain = requireNonNull(certChain, "certChain");
            this.clientKey = requireNonNull(key, "key");
            this.plaintext = false;
            return this;
        }

        /** Sends {@code authorization: Bearer TOKEN} with every call (use TLS to keep it secret). */
        public Builder bearerToken(String token) {
            this.token = requireNonNull(token, "token");
            new BearerToken(token);
            return this;
        }

        /** The deadline of each unary call attempt (30 s by default). */
        public Builder deadline(Duration deadline) {
            requireNonNull(deadline, "deadline");
            if (deadline.isNegative() || deadline.isZero()) {
                throw new IllegalArgumentException("deadline must be positive");
            }
            this.deadline = deadline;
            return this;
        }

        /** A deadline for each attempt of a blob stream (none by default: blobs can be large). */
        public Builder transferAttemptDeadline(Duration deadline) {
            requireNonNull(deadline, "deadline");
            if (deadline.isNegative() || deadline.isZero()) {
                throw new IllegalArgumentException("deadline must be positive");
            }
            this.transferAttemptDeadline = deadline;
            return this;
        }

        /** How calls are retried and streams resumed. */
        public Builder retryPolicy(RetryPolicy retryPolicy) {
            this.retryPolicy = requireNonNull(retryPolicy, "retryPolicy");
            return this;
        }

        /** Receives retries and transfer progress. */
        public Builder listener(ClientListener listener) {
            this.listener = requireNonNull(listener, "listener");
            return this;
        }

        /** The data per upload message, within 4 KiB and 4 MiB (1 MiB by default). */
        public Builder chunkSize(int bytes) {
            if (bytes < 4096 || bytes > 4 << 20) {
                throw new IllegalArgumentException("chunk size must be within 4 KiB and 4 MiB: " + bytes);
            }
            this.chunkSize = bytes;
            return this;
        }

        /** How many blobs {@link #uploadBlobs} and {@link #downloadBlobs} move at once (4 by default). */
        public Builder parallelism(int parallelism) {
            if (parallelism < 1 || parallelism > 64) {
                throw new IllegalArgumentException("parallelism must be within 1 and 64: " + parallelism);
            }
            this.parallelism = parallelism;
            return this;
        }

        /** The client; opens no connection until the first call. */
        public LayerCacheClient build() {
            if (channel == null && uriTarget == null && hostPorts.isEmpty()) {
                throw new IllegalStateException("no target: call target(\"host:port\")");
            }
            return new LayerCacheClient(this);
        }

        private String describeTarget() {
            if (channel != null && uriTarget == null && hostPorts.isEmpty()) {
                return channel.authority();
            }
            if (uriTarget != null) {
                return uriTarget;
            }
            return String.join(",", hostPorts.stream().map(StaticTargets.HostPort::toString).toList());
        }

        private ManagedChannel openChannel() {
            ChannelCredentials creds;
            if (plaintext) {
                creds = InsecureChannelCredentials.create();
            } else {
                TlsChannelCredentials.Builder tls = TlsChannelCredentials.newBuilder();
                if (caFile != null) {
                    try {
                        tls.trustManager(caFile.toFile());
                    } catch (IOException | RuntimeException e) {
                        throw new IllegalArgumentException("cannot read the CA file " + caFile + ": "
                                + e.getMessage(), e);
                    }
                }
                if (clientCertChain != null) {
                    try {
                        tls.keyManager(clientCertChain.toFile(), clientKey.toFile());
                    } catch (IOException | RuntimeException e) {
                        throw new IllegalArgumentException("cannot read the client certificate " + clientCertChain
                                + " or its key " + clientKey + ": " + e.getMessage(), e);
                    }
                }
                creds = tls.build();
            }
            // Downloads in frames of 256 KiB, not 16, received without a copy per read (LargeFrames).
            creds = LargeFrames.of(creds);
            ManagedChannelBuilder<?> b;
            if (uriTarget != null) {
                b = Grpc.newChannelBuilder(uriTarget, creds);
            } else if (hostPorts.size() == 1) {
                b = Grpc.newChannelBuilder(hostPorts.get(0).toString(), creds);
            } else {
                b = Grpc.newChannelBuilder(StaticTargets.target(), creds, StaticTargets.registry(hostPorts));
            }
            if (b instanceof NettyChannelBuilder netty) {
                // Downloads: the default 1 MiB window holds a 1 MiB-per-message stream to
                // stop-and-wait; a few messages in flight keep it streaming, still bounded.
                netty.flowControlWindow(FLOW_CONTROL_WINDOW);
            }
            return b.defaultLoadBalancingPolicy("round_robin")
                    // Retries are the client's (RetryPolicy); gRPC's own would buffer upload data.
                    .disableRetry()
                    .maxInboundMessageSize(MAX_INBOUND_MESSAGE)
                    .keepAliveTime(30, TimeUnit.SECONDS)
                    .keepAliveTimeout(10, TimeUnit.SECONDS)
                    .userAgent("layercache-client")
                    .build();
        }
    }
}
