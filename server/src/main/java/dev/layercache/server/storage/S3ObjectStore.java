package dev.layercache.server.storage;

import java.io.EOFException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.awscore.AwsRequestOverrideConfiguration;
import software.amazon.awssdk.core.FileTransformerConfiguration;
import software.amazon.awssdk.core.async.AsyncRequestBody;
import software.amazon.awssdk.core.async.AsyncResponseTransformer;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.http.nio.netty.NettyNioAsyncHttpClient;
import software.amazon.awssdk.http.nio.netty.SdkEventLoopGroup;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.S3AsyncClientBuilder;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Response;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.UploadPartResponse;

/**
 * {@link ObjectStore} on an S3-compatible bucket, through the SDK's async client on the Netty the
 * node serves with (its own event loops; no blocking HTTP client is on the class path).
 *
 * <p>Deadlines are chosen so that an unreachable bucket fails in seconds: connections must open
 * within 2 s, and small calls (metadata puts and gets, head, delete, list, multipart bookkeeping)
 * end after 10 s over at most three attempts. File transfers have no total deadline, since a
 * 10 GB layer takes what it takes; Netty's read and write timeouts end one that makes no
 * progress for 30 s.
 *
 * <p>Checksums are sent and checked only where S3 requires them. The SDK's default (a trailing
 * CRC in aws-chunked bodies) is refused by several S3-compatible servers; TLS guards the bytes
 * on the way, and blobs are named by their digest, which a reader can check.
 *
 * <p>A little over 400 lines because it is one implementation of {@link ObjectStore}'s whole
 * contract (the same suite as the file store), with the SDK's client set-up it needs.
 */
public final class S3ObjectStore implements ObjectStore {
    private static final long MIN_PART_SIZE = 5L << 20; // S3's, except for the last part
    private static final int MAX_PARTS = 10_000;
    /** Parts of one file on the wire at once: S3 gives each connection tens of MB/s. */
    private static final int PARTS_IN_FLIGHT = 4;
    private static final int MAX_ATTEMPTS = 3;
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(2);
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration IDLE_TIMEOUT = Duration.ofSeconds(30);
    private static final AwsRequestOverrideConfiguration SMALL_CALL =
            AwsRequestOverrideConfiguration.builder().apiCallTimeout(CALL_TIMEOUT).build();

    /**
     * Where the objects live. {@code endpoint} null means AWS itself, {@code region} null the SDK's
     * region lookup, {@code credentials} null the SDK's default chain (environment, profile, instance
     * role...). Keys are stored as {@code prefix/key}, or as {@code key} when the prefix is empty.
     * Files of {@code multipartThreshold} bytes or more go up in parts of {@code partSize}.
     */
    public record Settings(URI endpoint, String region, String bucket, String prefix, boolean pathStyle,
                           AwsCredentialsProvider credentials, long multipartThreshold, long partSize) {
        public static final long DEFAULT_MULTIPART_THRESHOLD = 64L << 20;
        public static final long DEFAULT_PART_SIZE = 16L << 20;

        public Settings {
            Objects.requireNonNull(bucket, "bucket");
            prefix = prefix == null ? "" : prefix.replaceAll("^/+|/+$", "");
            if (partSize < MIN_PART_SIZE || multipartThreshold < 1) {
                throw new IllegalArgumentException("parts are 5 MiB or more in S3: " + partSize);
            }
        }

        public Settings(URI endpoint, String region, String bucket, String prefix, boolean pathStyle,
                        AwsCredentialsProvider credentials) {
            this(endpoint, region, bucket, prefix, pathStyle, credentials,
                    DEFAULT_MULTIPART_THRESHOLD, DEFAULT_PART_SIZE);
        }

        public Settings withMultipart(long threshold, long size) {
            return new Settings(endpoint, region, bucket, prefix, pathStyle, credentials, threshold, size);
        }
    }

    /**
     * Hears of every request sent to the bucket once it has ended (so metrics can count and time
     * them). {@code operation} is one of put, put_file, put_if_absent, get, head, download, delete,
     * list, create_multipart, upload_part, complete_multipart, abort_multipart; {@code outcome} is
     * ok, absent (no such key) or error. A put_if_absent refused because the key exists is ok: the
     * bucket answered. {@code nanos} is how long the request took, the SDK's retries included.
     * Called on the SDK's threads; must not block.
     */
    @FunctionalInterface
    public interface RequestListener {
        RequestListener NONE = (operation, outcome, nanos) -> { };

        void onRequest(String operation, String outcome, long nanos);
    }

    private final Settings settings;
    private final S3AsyncClient s3;
    private final SdkEventLoopGroup loops;
    private final RequestListener listener;
    private final String bucket;
    private final String base;

    private S3ObjectStore(Settings settings, S3AsyncClient s3, SdkEventLoopGroup loops, RequestListener listener) {
        this.settings = settings;
        this.s3 = s3;
        this.loops = loops;
        this.listener = listener;
        this.bucket = settings.bucket();
        this.base = settings.prefix().isEmpty() ? "" : settings.prefix() + "/";
    }

    /** A store on {@code settings.bucket()}, which must exist: creating buckets is the operator's job. */
    public static S3ObjectStore open(Settings settings, RequestListener listener) {
        // Our own event loops, shut down in close() without Netty's 2 s quiet period.
        SdkEventLoopGroup loops = SdkEventLoopGroup.builder().build();
        S3AsyncClientBuilder builder = S3AsyncClient.builder()
                .httpClientBuilder(NettyNioAsyncHttpClient.builder()
                        .eventLoopGroup(loops)
                        .connectionTimeout(CONNECT_TIMEOUT)
                        .readTimeout(IDLE_TIMEOUT)
                        .writeTimeout(IDLE_TIMEOUT))
                .forcePathStyle(settings.pathStyle())
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                .overrideConfiguration(o -> o.retryStrategy(r -> r.maxAttempts(MAX_ATTEMPTS)));
        if (settings.credentials() != null) {
            builder.credentialsProvider(settings.credentials()); // else the SDK's default chain
        }
        if (settings.endpoint() != null) {
            builder.endpointOverride(settings.endpoint());
        }
        if (settings.region() != null) {
            builder.region(Region.of(settings.region()));
        }
        return new S3ObjectStore(settings, builder.build(), loops, Objects.requireNonNull(listener, "listener"));
    }

    @Override
    public void put(String key, byte[] bytes) throws IOException {
        call("put", key, 0, s3.putObject(b -> b.bucket(bucket).key(base + key).overrideConfiguration(SMALL_CALL),
                AsyncRequestBody.fromBytes(bytes)));
    }

    @Override
    public void putFile(String key, Path file, long size) throws IOException {
        // Checked here, since the SDK would report a short or missing file like a network failure.
        long available = Files.size(file);
        if (available < size) {
            throw new EOFException(file + " has " + available + " bytes, not " + size);
        }
        if (size >= settings.multipartThreshold()) {
            putInParts(key, file, size);
            return;
        }
        call("put_file", key, 0, s3.putObject(b -> b.bucket(bucket).key(base + key),
                AsyncRequestBody.fromFile(f -> f.path(file).position(0L).numBytesToRead(size))));
    }

    /**
     * S3's conditional write: the bucket itself refuses to replace an object (412), so two nodes
     * racing for one key cannot both win. A 409 means another conditional write to the key was in
     * progress; S3 asks for a retry. One case answers false wrongly: a request whose first attempt
     * stored the bytes but whose answer was lost is retried by the SDK and refused; the object then
     * holds these very bytes.
     */
    @Override
    public boolean putIfAbsent(String key, byte[] bytes) throws IOException {
        for (int attempt = 1; ; attempt++) {
            try {
                return call("put_if_absent", key, 412, s3.putObject(b -> b.bucket(bucket)
                        .key(base + key).ifNoneMatch("*").overrideConfiguration(SMALL_CALL),
                        AsyncRequestBody.fromBytes(bytes))) != null;
            } catch (IOException e) {
                if (attempt == MAX_ATTEMPTS || status(e.getCause()) != 409) {
                    throw e;
                }
            }
        }
    }

    @Override
    public byte[] get(String key) throws IOException {
        var bytes = call("get", key, 404, s3.getObject(b -> b.bucket(bucket).key(base + key)
                .overrideConfiguration(SMALL_CALL), AsyncResponseTransformer.toBytes()));
        return bytes == null ? null : bytes.asByteArrayUnsafe();
    }

    /** A HEAD answer has no body, so a missing bucket looks like a missing key here (-1). */
    @Override
    public long size(String key) throws IOException {
        var head = call("head", key, 404, s3.headObject(b -> b.bucket(bucket).key(base + key)
                .overrideConfiguration(SMALL_CALL)));
        return head == null ? -1 : head.contentLength();
    }

    @Override
    public boolean download(String key, Path target) throws IOException {
        // Into a temporary file beside the target, then renamed: the target is never half-written.
        Path tmp = Files.createTempFile(target.toAbsolutePath().getParent(), "." + target.getFileName(), ".part");
        try {
            GetObjectResponse got = call("download", key, 404, s3.getObject(b -> b.bucket(bucket).key(base + key),
                    AsyncResponseTransformer.toFile(tmp, FileTransformerConfiguration.defaultCreateOrReplaceExisting())));
            if (got == null) {
                return false;
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            return true;
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    @Override
    public void delete(String key) throws IOException {
        call("delete", key, 0, s3.deleteObject(b -> b.bucket(bucket).key(base + key)
                .overrideConfiguration(SMALL_CALL)));
    }

    @Override
    public List<ObjectInfo> listObjects(String prefix, String startAfter, int limit) throws IOException {
        String within = base + (prefix == null ? "" : prefix);
        List<ObjectInfo> keys = new ArrayList<>();
        for (String token = null; keys.size() < limit; ) {
            String continuation = token;
            int want = Math.min(1000, limit - keys.size());
            ListObjectsV2Response page = call("list", prefix, 0, s3.listObjectsV2(b -> b.bucket(bucket).prefix(within)
                    .maxKeys(want).startAfter(startAfter == null ? null : base + startAfter)
                    .continuationToken(continuation).overrideConfiguration(SMALL_CALL)));
            page.contents().forEach(object -> keys.add(new ObjectInfo(object.key().substring(base.length()),
                    object.size() == null ? 0 : object.size(),
                    object.lastModified() == null ? 0 : object.lastModified().toEpochMilli())));
            token = page.nextContinuationToken();
            if (!Boolean.TRUE.equals(page.isTruncated()) || token == null) {
                break;
            }
        }
        return keys;
    }

    @Override
    public void close() {
        s3.close();
        loops.eventLoopGroup().shutdownGracefully(0, 5, TimeUnit.SECONDS).syncUninterruptibly();
    }

    /**
     * A multipart upload whose parts stream from regions of the file, a few at a time, so memory
     * stays flat for any size. A failed or interrupted upload is aborted, or S3 would keep (and
     * bill) its parts; an abort that cannot reach the bucket leaves them to the bucket's lifecycle
     * rule (AbortIncompleteMultipartUpload), which an operator should set.
     */
    private void putInParts(String key, Path file, long size) throws IOException {
        String objectKey = base + key;
        long partSize = Math.max(settings.partSize(), (size + MAX_PARTS - 1) / MAX_PARTS);
        String uploadId;
        try {
            // Not interruptible (join): an upload that exists must be known, to be aborted.
            uploadId = send("create_multipart", s3.createMultipartUpload(
                    b -> b.bucket(bucket).key(objectKey).overrideConfiguration(SMALL_CALL))).join().uploadId();
        } catch (CompletionException | CancellationException e) {
            throw failure("create_multipart", key, unwrap(e));
        }
        Deque<CompletableFuture<UploadPartResponse>> inFlight = new ArrayDeque<>();
        List<CompletedPart> parts = new ArrayList<>();
        try {
            for (long offset = 0; offset < size; offset += partSize) {
                if (inFlight.size() == PARTS_IN_FLIGHT) {
                    parts.add(completed(parts.size() + 1, await("upload_part", key, inFlight.removeFirst(), 0)));
                }
                int number = parts.size() + inFlight.size() + 1;
                long from = offset;
                long length = Math.min(partSize, size - offset);
                inFlight.add(send("upload_part", s3.uploadPart(b -> b.bucket(bucket).key(objectKey).uploadId(uploadId)
                        .partNumber(number).contentLength(length),
                        AsyncRequestBody.fromFile(f -> f.path(file).position(from).numBytesToRead(length)))));
            }
            while (!inFlight.isEmpty()) {
                parts.add(completed(parts.size() + 1, await("upload_part", key, inFlight.removeFirst(), 0)));
            }
            // No 10 s deadline: S3 may take minutes to assemble many parts (it sends whitespace meanwhile).
            call("complete_multipart", key, 0, s3.completeMultipartUpload(b -> b
                    .bucket(bucket).key(objectKey).uploadId(uploadId).multipartUpload(m -> m.parts(parts))));
        } catch (IOException | RuntimeException e) {
            inFlight.forEach(f -> f.cancel(true));
            abort(objectKey, uploadId, e);
            throw e;
        }
    }

    private static CompletedPart completed(int number, UploadPartResponse response) {
        return CompletedPart.builder().partNumber(number).eTag(response.eTag()).build();
    }

    private void abort(String objectKey, String uploadId, Exception failure) {
        boolean interrupted = Thread.interrupted(); // else the SDK would refuse to send the abort
        CompletableFuture<?> call = send("abort_multipart", s3.abortMultipartUpload(b -> b.bucket(bucket)
                .key(objectKey).uploadId(uploadId).overrideConfiguration(SMALL_CALL)));
        if (interrupted) {
            Thread.currentThread().interrupt();
            return; // the abort goes out; an interrupted caller does not wait for it
        }
        try {
            call.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | RuntimeException e) {
            failure.addSuppressed(unwrap(e));
        }
    }

    /**
     * {@code call}, which completes once the listener has heard how it ended (so a caller that
     * waited sees its request counted); cancelling it cancels the request.
     */
    private <T> CompletableFuture<T> send(String operation, CompletableFuture<T> call) {
        long sent = System.nanoTime();
        CompletableFuture<T> reported = call.whenComplete((result, e) -> listener.onRequest(operation,
                e == null || status(unwrap(e)) == 412 ? "ok" : isAbsent(unwrap(e)) ? "absent" : "error",
                System.nanoTime() - sent));
        reported.whenComplete((result, e) -> {
            if (e instanceof CancellationException) {
                call.cancel(true);
            }
        });
        return reported;
    }

    private <T> T call(String operation, String key, int quietStatus, CompletableFuture<T> request) throws IOException {
        return await(operation, key, send(operation, request), quietStatus);
    }

    /**
     * Waits for {@code call}; null when S3 answered {@code quietStatus} (404 absent, 412 refused
     * conditional write; 0 for none), the typed failure otherwise.
     */
    private <T> T await(String operation, String key, CompletableFuture<T> call, int quietStatus) throws IOException {
        try {
            return call.get();
        } catch (InterruptedException e) {
            call.cancel(true);
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("bucket " + bucket + ": " + operation + " " + base + key + " interrupted");
        } catch (ExecutionException | CompletionException e) {
            Throwable cause = unwrap(e);
            if (quietStatus == 412 && status(cause) == 412 || quietStatus == 404 && isAbsent(cause)) {
                return null;
            }
            throw failure(operation, key, cause);
        }
    }

    /**
     * Server errors, throttling, a missing bucket and anything that never got an answer
     * (connection refused, timeouts) are "unavailable"; other refusals (credentials, permissions)
     * are plain I/O errors, for an operator to fix.
     */
    private IOException failure(String operation, String key, Throwable cause) {
        String what = "bucket " + bucket + ": " + operation + " " + base + key;
        for (Throwable c = cause; c != null; c = c.getCause()) {
            if (c instanceof InterruptedException) {
                // The SDK checks (and clears) the caller's interrupt flag before it sends.
                Thread.currentThread().interrupt();
                return (IOException) new InterruptedIOException(what + " interrupted").initCause(cause);
            }
        }
        if (cause instanceof S3Exception e) {
            String answer = e.statusCode() + " " + (e.awsErrorDetails() == null ? "" : e.awsErrorDetails().errorCode());
            if (e.statusCode() >= 500 || e.statusCode() == 429 || isNoSuchBucket(e)) {
                return new UnavailableException(what + " failed: " + answer, e);
            }
            return new IOException(what + " refused: " + answer, e);
        }
        if (cause instanceof SdkClientException || cause instanceof IOException) {
            return new UnavailableException(what + " failed: " + cause.getMessage(), cause);
        }
        if (cause instanceof Error error) {
            throw error;
        }
        return new IOException(what + " failed: " + cause, cause);
    }

    private static Throwable unwrap(Throwable e) {
        while ((e instanceof CompletionException || e instanceof ExecutionException) && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
    }

    private static int status(Throwable e) {
        return e instanceof S3Exception s3e ? s3e.statusCode() : 0;
    }

    /** A 404 about the key; a 404 about the bucket (NoSuchBucket) is an outage. */
    private static boolean isAbsent(Throwable e) {
        return status(e) == 404 && !isNoSuchBucket(e);
    }

    private static boolean isNoSuchBucket(Throwable e) {
        return e instanceof S3Exception s3e && s3e.awsErrorDetails() != null
                && "NoSuchBucket".equals(s3e.awsErrorDetails().errorCode());
    }
}
