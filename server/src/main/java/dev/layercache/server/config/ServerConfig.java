package dev.layercache.server.config;

import dev.layercache.server.mirror.UpstreamClient;
import dev.layercache.server.mirror.UpstreamSettings;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The validated configuration of a node. Built by {@link ConfigLoader}; never invalid.
 *
 * <p>The whole tree is in this one file (over 400 lines), with a builder beside each record of
 * more than a few components: a reader finds every setting's type, meaning and default in one
 * place, as every setting's name is in {@link Setting}. Code builds records with their builders
 * ({@code toBuilder()} to change a few settings); the positional constructors are the records' own.
 */
public record ServerConfig(
        int httpPort,
        int grpcPort,
        String bindAddress,
        Path dataDir,
        long maxManifestSize,
        long maxHeaderSize,
        int blockingThreads,
        int eventLoops,
        Duration shutdownGrace,
        Metrics metrics,
        Lifecycle lifecycle,
        Cluster cluster,
        Auth auth,
        Limits limits,
        Tls tls,
        HttpDownloads httpDownloads,
        Mirror mirror) {

    /**
     * The upstream registries this node mirrors (setting {@code mirror}, docs/configuration.md):
     * pulls of {@code docker.io/library/busybox} are served from the cache and, on a miss, fetched
     * from the upstream named {@code docker.io}. {@link #NONE}: no mirror, the node serves only its
     * own repositories.
     *
     * <p>Its {@code toString()} shows user names, never secrets ({@link UpstreamSettings.Credentials}).
     *
     * @param upstreams the upstreams in the order they were configured; no name twice
     * @param timeouts  how long the node waits for an upstream: for a connection, an answer, the
     *                  next bytes of a body ({@link UpstreamClient.Timeouts#DEFAULTS}; not a setting
     *                  yet, tests shorten it to see a stalled upstream fail in seconds)
     */
    public record Mirror(java.util.List<UpstreamSettings> upstreams, UpstreamClient.Timeouts timeouts) {
        public static final Mirror NONE = new Mirror(java.util.List.of());

        /** These upstreams, waited for as long as {@link UpstreamClient.Timeouts#DEFAULTS} says. */
        public Mirror(java.util.List<UpstreamSettings> upstreams) {
            this(upstreams, UpstreamClient.Timeouts.DEFAULTS);
        }

        public Mirror {
            java.util.Objects.requireNonNull(timeouts, "timeouts");
            upstreams = java.util.List.copyOf(upstreams);
            java.util.Set<String> names = new java.util.HashSet<>();
            for (UpstreamSettings u : upstreams) {
                if (!names.add(u.name())) {
                    throw new IllegalArgumentException("upstream " + u.name() + " is configured twice");
                }
            }
        }

        /** The same upstreams, waited for as {@code other} says. */
        public Mirror withTimeouts(UpstreamClient.Timeouts other) {
            return new Mirror(upstreams, other);
        }

        /** Whether any upstream is mirrored. */
        public boolean enabled() {
            return !upstreams.isEmpty();
        }

        /** The upstream clients call {@code registry} ({@code docker.io}), or null if it is not mirrored. */
        public UpstreamSettings upstream(String registry) {
            for (UpstreamSettings u : upstreams) {
                if (u.name().equals(registry)) {
                    return u;
                }
            }
            return null;
        }
    }

    /**
     * How blob bodies leave the plain-HTTP port. On loopback, copying through 256 KiB buffers
     * measured faster than {@code sendfile(2)}, at less CPU (BENCHMARKS.md, "Figures behind
     * choices in the code"); {@code sendfile} is kept for networks where saving the copy may
     * matter more. HTTPS always copies: {@code sendfile} cannot encrypt.
     */
    public enum HttpDownloads { COPY, SENDFILE }

    /**
     * What one client may ask of the node, and what all of them may hold together.
     *
     * @param maxBlobBytes          largest blob accepted (413 beyond); 0 for no limit
     * @param maxUploadsPerIdentity upload sessions open at once per identity, anonymous clients told
     *                              apart by address (429 beyond); 0 for no limit
     * @param requestsPerSecond     requests per second per identity, with bursts of a second's worth
     *                              (429 with Retry-After beyond); 0 for no limit
     * @param idleTimeout           a connection must send a complete request header within this
     *                              long after it opened or its last response ended
     * @param readTimeout           a request body may pause at most this long
     * @param maxUploads            upload sessions open at once on the node (beyond, the session idle
     *                              longest gives way if idle for a minute, else 429); 0 for no limit
     * @param uploadIdleTimeout     an upload session no request has worked on for this long is
     *                              removed; zero for no idle limit
     * @param minBodyRate           bytes per second a request body must average once
     *                              {@code readTimeout} has passed (408 and close below); 0 for no minimum
     */
    public record Limits(long maxBlobBytes, int maxUploadsPerIdentity, double requestsPerSecond,
                         Duration idleTimeout, Duration readTimeout, int maxUploads, Duration uploadIdleTimeout,
                         long minBodyRate) {
        public static final int DEFAULT_MAX_UPLOADS_PER_IDENTITY = 256;
        public static final int DEFAULT_MAX_UPLOADS = 2048;
        public static final Duration DEFAULT_UPLOAD_IDLE_TIMEOUT = Duration.ofMinutes(15);
        public static final long DEFAULT_MIN_BODY_RATE = 1024;
        public static final Limits DEFAULT = new Limits(0, DEFAULT_MAX_UPLOADS_PER_IDENTITY, 0, Duration.ofSeconds(60),
                Duration.ofSeconds(30), DEFAULT_MAX_UPLOADS, DEFAULT_UPLOAD_IDLE_TIMEOUT, DEFAULT_MIN_BODY_RATE);

        /** The defaults, to change with the builder's setters. */
        public static Builder builder() {
            return DEFAULT.toBuilder();
        }

        public Builder toBuilder() {
            return new Builder(this);
        }

        public Limits withUploads(int maxUploads, Duration uploadIdleTimeout) {
            return toBuilder().maxUploads(maxUploads).uploadIdleTimeout(uploadIdleTimeout).build();
        }

        public Limits withMinBodyRate(long bytesPerSecond) {
            return toBuilder().minBodyRate(bytesPerSecond).build();
        }

        /** Builds {@link Limits}; the setters are named as the record's components. */
        public static final class Builder {
            private long maxBlobBytes;
            private int maxUploadsPerIdentity;
            private double requestsPerSecond;
            private Duration idleTimeout;
            private Duration readTimeout;
            private int maxUploads;
            private Duration uploadIdleTimeout;
            private long minBodyRate;

            private Builder(Limits from) {
                maxBlobBytes = from.maxBlobBytes;
                maxUploadsPerIdentity = from.maxUploadsPerIdentity;
                requestsPerSecond = from.requestsPerSecond;
                idleTimeout = from.idleTimeout;
                readTimeout = from.readTimeout;
                maxUploads = from.maxUploads;
                uploadIdleTimeout = from.uploadIdleTimeout;
                minBodyRate = from.minBodyRate;
            }

            public Builder maxBlobBytes(long bytes) {
                maxBlobBytes = bytes;
                return this;
            }

            public Builder maxUploadsPerIdentity(int sessions) {
                maxUploadsPerIdentity = sessions;
                return this;
            }

            public Builder requestsPerSecond(double rate) {
                requestsPerSecond = rate;
                return this;
            }

            public Builder idleTimeout(Duration timeout) {
                idleTimeout = timeout;
                return this;
            }

            public Builder readTimeout(Duration timeout) {
                readTimeout = timeout;
                return this;
            }

            public Builder maxUploads(int sessions) {
                maxUploads = sessions;
                return this;
            }

            public Builder uploadIdleTimeout(Duration timeout) {
                uploadIdleTimeout = timeout;
                return this;
            }

            public Builder minBodyRate(long bytesPerSecond) {
                minBodyRate = bytesPerSecond;
                return this;
            }

            public Limits build() {
                return new Limits(maxBlobBytes, maxUploadsPerIdentity, requestsPerSecond, idleTimeout, readTimeout,
                        maxUploads, uploadIdleTimeout, minBodyRate);
            }
        }
    }

    /**
     * TLS on both ports (see docs/tls.md); {@link #NONE} for plain HTTP and gRPC.
     *
     * @param certChain    PEM certificate chain, the server's certificate first; null for no TLS
     * @param privateKey   PEM private key of that certificate
     * @param grpcClientCa PEM CA bundle: gRPC clients must present a certificate signed by it;
     *                     null for no client certificates
     */
    public record Tls(Path certChain, Path privateKey, Path grpcClientCa) {
        public static final Tls NONE = new Tls(null, null, null);

        public boolean enabled() {
            return certChain != null;
        }
    }

    /**
     * Who may do what (see docs/access-control.md). Without an htpasswd or a tokens file,
     * nobody is asked for credentials.
     *
     * @param htpasswd      users and bcrypt hashes ({@code htpasswd -B}); null for none
     * @param tokens        {@code <identity> sha256:<hex>} lines; null for none
     * @param rules         YAML rules giving identities actions on namespaces; null: every
     *                      authenticated identity may do everything
     * @param anonymousRead requests without credentials may read everything
     * @param nodeToken     the token this node presents to the other nodes of its cluster
     */
    public record Auth(Path htpasswd, Path tokens, Path rules, boolean anonymousRead, String nodeToken) {
        public static final Auth NONE = new Auth(null, null, null, false, "");

        /** The node token is a secret: never in the text of a configuration. */
        @Override
        public String toString() {
            return "Auth[htpasswd=" + htpasswd + ", tokens=" + tokens + ", rules=" + rules + ", anonymousRead="
                    + anonymousRead + ", nodeToken=" + (nodeToken == null || nodeToken.isEmpty() ? "(none)" : "(hidden)")
                    + "]";
        }
    }

    /**
     * Cluster mode: nodes that share an S3-compatible bucket as their durable tier. Without a
     * bucket the node runs alone on its disk.
     *
     * @param s3Endpoint  the S3 API's URL; empty for AWS's own endpoint of {@code s3Region}
     * @param s3Region    the bucket's region
     * @param s3Bucket    the bucket; empty for a single node without one
     * @param s3Prefix    a key prefix inside the bucket, so that several clusters can share it
     * @param s3PathStyle path-style addressing ({@code endpoint/bucket/key}), as MinIO and most
     *                    self-hosted servers want
     * @param nodeUrl     the URL other nodes reach this node's HTTP port at, to take over its
     *                    upload sessions; empty for {@code http://<bind-address>:<http-port>}
     * @param maxBytes    the bucket's budget for blob bytes; 0 for none
     * @param maxAge      roots unused in the whole cluster for this long leave the bucket; 0 for never
     * @param gcInterval  how often a node tries to take the lease and run the bucket's collection
     */
    public record Cluster(String s3Endpoint, String s3Region, String s3Bucket, String s3Prefix, boolean s3PathStyle,
                          String nodeUrl, long maxBytes, Duration maxAge, Duration gcInterval) {
        public static final Cluster NONE = new Cluster("", "us-east-1", "", "", false, "", 0, Duration.ZERO,
                Duration.ofHours(1));

        public boolean enabled() {
            return !s3Bucket.isEmpty();
        }
    }

    /**
     * An amount of disk: bytes, or a percentage of the data directory's file system (resolved
     * against its size when used, so a resized volume takes effect). {@link #NONE} is no amount.
     */
    public record DiskShare(long bytes, int percent) {
        public static final DiskShare NONE = new DiskShare(0, 0);

        public DiskShare {
            if (bytes < 0 || percent < 0 || percent > 100 || (bytes > 0 && percent > 0)) {
                throw new IllegalArgumentException("a disk share is bytes or a percentage: " + bytes + ", " + percent);
            }
        }

        public static DiskShare ofBytes(long bytes) {
            return new DiskShare(bytes, 0);
        }

        public static DiskShare ofPercent(int percent) {
            return new DiskShare(0, percent);
        }

        public boolean isNone() {
            return bytes == 0 && percent == 0;
        }

        /** The bytes this share is of a file system of {@code fileSystemBytes}. */
        public long resolve(long fileSystemBytes) {
            return percent > 0 ? fileSystemBytes / 100 * percent : bytes;
        }

        /** As written in the configuration: {@code 60%}, {@code 1073741824}, or {@code 0}. */
        @Override
        public String toString() {
            return percent > 0 ? percent + "%" : Long.toString(bytes);
        }
    }

    /**
     * How long and how many records of its history a repository keeps: tombstones (names it held
     * and lost, which make a later miss a capacity miss) and step publications (which explain a
     * miss of the native API). Both are pruned by age and, oldest first, by count.
     *
     * @param maxAge               records older than this go; zero for no age limit
     * @param maxPerRepository     records per repository and kind at most; 0 for no count limit
     */
    public record History(Duration maxAge, int maxPerRepository) {
        public static final History DEFAULT = new History(Duration.ofDays(30), 10_000);
    }

    /**
     * How the store keeps within its disk.
     *
     * @param maxDisk        the budget for blob bytes (bytes or a share of the file system); none for no budget
     * @param highPercent    eviction starts above this share of the budget
     * @param lowPercent     and stops below this one
     * @param maxAge         roots unused for longer are evicted; zero for never
     * @param gcGrace        blobs stored or asked for more recently, and not released since by a
     *                       root that held them, are never collected
     * @param uploadTimeout  upload sessions older than this are removed
     * @param interval       how often the lifecycle runs (and whenever a write takes usage past the high watermark)
     * @param scrubRate      bytes per second the scrubber re-hashes at; 0 for no background scrubbing
     * @param scrubEvery     pause between two scrubs of the whole store
     * @param namespaces     overrides of the budget and age for namespaces (repository prefixes)
     * @param minFreeDisk    the data directory's file system keeps at least this much free: below
     *                       it, the budget in force shrinks to what fits; none for no floor
     * @param untaggedMaxAge untagged manifests that nothing names (superseded cache exports) go
     *                       after this long unused; zero for never
     * @param history        how much history (tombstones, step publications) each repository keeps
     * @param protect        {@code repository:tag} patterns ({@code *} matches any run of characters)
     *                       whose tags eviction never takes (see {@code lifecycle.ProtectedRefs})
     */
    public record Lifecycle(DiskShare maxDisk, int highPercent, int lowPercent, Duration maxAge, Duration gcGrace,
                            Duration uploadTimeout, Duration interval, long scrubRate, Duration scrubEvery,
                            java.util.List<NamespaceLimit> namespaces, DiskShare minFreeDisk,
                            Duration untaggedMaxAge, History history, java.util.List<String> protect) {
        /** The defaults: 60% of the file system for blobs (as BuildKit's own collector), 10% kept free. */
        public static final Lifecycle DEFAULT = new Lifecycle(DiskShare.ofPercent(60), 90, 80, Duration.ZERO,
                Duration.ofHours(2), Duration.ofHours(24), Duration.ofMinutes(1), 32L << 20, Duration.ofHours(24),
                java.util.List.of(), DiskShare.ofPercent(10), Duration.ofHours(24), History.DEFAULT,
                java.util.List.of());

        public Lifecycle {
            namespaces = java.util.List.copyOf(namespaces);
            protect = java.util.List.copyOf(protect);
        }

        /** The defaults ({@link #DEFAULT}), to change with the builder's setters. */
        public static Builder builder() {
            return DEFAULT.toBuilder();
        }

        public Builder toBuilder() {
            return new Builder(this);
        }

        /** The override for {@code repository}: the longest matching prefix, or null. */
        public NamespaceLimit limitFor(String repository) {
            NamespaceLimit best = null;
            for (NamespaceLimit l : namespaces) {
                if ((repository.equals(l.prefix()) || repository.startsWith(l.prefix() + "/"))
                        && (best == null || l.prefix().length() > best.prefix().length())) {
                    best = l;
                }
            }
            return best;
        }

        /** These settings with other namespace overrides. */
        public Lifecycle withNamespaces(java.util.List<NamespaceLimit> limits) {
            return toBuilder().namespaces(limits).build();
        }

        /** These settings with another budget. */
        public Lifecycle withMaxDisk(DiskShare budget) {
            return toBuilder().maxDisk(budget).build();
        }

        /** These settings with another free-space floor. */
        public Lifecycle withMinFreeDisk(DiskShare floor) {
            return toBuilder().minFreeDisk(floor).build();
        }

        /** These settings with another age for untagged manifests (zero: kept). */
        public Lifecycle withUntaggedMaxAge(Duration age) {
            return toBuilder().untaggedMaxAge(age).build();
        }

        /** These settings with other history bounds. */
        public Lifecycle withHistory(History bounds) {
            return toBuilder().history(bounds).build();
        }

        /** These settings without background scrubbing (tests that scrub when they choose). */
        public Lifecycle withoutScrubbing() {
            return toBuilder().scrubRate(0).build();
        }

        /**
         * How long a blob a client was told exists (a HEAD, a FindMissingBlobs, a mount) is kept
         * should the last root holding it be evicted: the time between a builder's question and
         * the manifest or entry that names the blob. The grace period, up to ten minutes: longer
         * would keep the bytes of roots used that recently from every eviction, and a budget that
         * holds less than the grace period's traffic could never be met.
         */
        public Duration askedGrace() {
            return askedGrace(gcGrace);
        }

        /** {@link #askedGrace()} for a grace period of {@code gcGrace}. */
        public static Duration askedGrace(Duration gcGrace) {
            Duration cap = Duration.ofMinutes(10);
            return gcGrace.compareTo(cap) < 0 ? gcGrace : cap;
        }

        /** These settings without a budget or a free-space floor (tests that evict when they choose). */
        public Lifecycle withoutBudget() {
            return withMaxDisk(DiskShare.NONE).withMinFreeDisk(DiskShare.NONE);
        }

        /** Builds {@link Lifecycle}; the setters are named as the record's components. */
        public static final class Builder {
            private DiskShare maxDisk;
            private int highPercent;
            private int lowPercent;
            private Duration maxAge;
            private Duration gcGrace;
            private Duration uploadTimeout;
            private Duration interval;
            private long scrubRate;
            private Duration scrubEvery;
            private java.util.List<NamespaceLimit> namespaces;
            private DiskShare minFreeDisk;
            private Duration untaggedMaxAge;
            private History history;
            private java.util.List<String> protect;

            private Builder(Lifecycle from) {
                maxDisk = from.maxDisk;
                highPercent = from.highPercent;
                lowPercent = from.lowPercent;
                maxAge = from.maxAge;
                gcGrace = from.gcGrace;
                uploadTimeout = from.uploadTimeout;
                interval = from.interval;
                scrubRate = from.scrubRate;
                scrubEvery = from.scrubEvery;
                namespaces = from.namespaces;
                minFreeDisk = from.minFreeDisk;
                untaggedMaxAge = from.untaggedMaxAge;
                history = from.history;
                protect = from.protect;
            }

            public Builder maxDisk(DiskShare budget) {
                maxDisk = budget;
                return this;
            }

            /** A budget of {@code bytes} (0: none). */
            public Builder maxDiskBytes(long bytes) {
                return maxDisk(DiskShare.ofBytes(bytes));
            }

            /** Eviction starts above {@code high} percent of the budget and stops below {@code low}. */
            public Builder watermarks(int high, int low) {
                highPercent = high;
                lowPercent = low;
                return this;
            }

            public Builder maxAge(Duration age) {
                maxAge = age;
                return this;
            }

            public Builder gcGrace(Duration grace) {
                gcGrace = grace;
                return this;
            }

            public Builder uploadTimeout(Duration timeout) {
                uploadTimeout = timeout;
                return this;
            }

            public Builder interval(Duration every) {
                interval = every;
                return this;
            }

            public Builder scrubRate(long bytesPerSecond) {
                scrubRate = bytesPerSecond;
                return this;
            }

            public Builder scrubEvery(Duration every) {
                scrubEvery = every;
                return this;
            }

            public Builder namespaces(java.util.List<NamespaceLimit> limits) {
                namespaces = limits;
                return this;
            }

            public Builder minFreeDisk(DiskShare floor) {
                minFreeDisk = floor;
                return this;
            }

            public Builder untaggedMaxAge(Duration age) {
                untaggedMaxAge = age;
                return this;
            }

            public Builder history(History bounds) {
                history = bounds;
                return this;
            }

            /** {@code repository:tag} patterns whose tags eviction never takes. */
            public Builder protect(java.util.List<String> patterns) {
                protect = patterns;
                return this;
            }

            public Lifecycle build() {
                return new Lifecycle(maxDisk, highPercent, lowPercent, maxAge, gcGrace, uploadTimeout, interval,
                        scrubRate, scrubEvery, namespaces, minFreeDisk, untaggedMaxAge, history, protect);
            }
        }
    }

    /**
     * A namespace's own limits: its roots (repositories at or under {@code prefix}) are kept within
     * {@code maxDiskBytes} (estimated as the sum of their blobs; 0 for no budget of its own) and
     * evicted when unused for {@code maxAge} (null: the node's max-age).
     */
    public record NamespaceLimit(String prefix, long maxDiskBytes, Duration maxAge) {
    }

    /**
     * What the node counts.
     *
     * @param enabled        false turns counting and the /metrics, /api/v1/stats and /ui/ paths off
     * @param namespaceDepth leading path components of a repository that make its namespace label
     * @param maxNamespaces  distinct namespace labels at most (Prometheus cardinality); later ones are "other"
     */
    public record Metrics(boolean enabled, int namespaceDepth, int maxNamespaces) {
        public static final Metrics DEFAULT = new Metrics(true, 1, 100);
    }

    /**
     * A configuration for tests and embedding: data in {@code dataDir}, both ports chosen by the
     * system, loopback only, no disk budget and no background scrubbing (a test's store does not
     * depend on how full the machine's disk is), everything else default.
     */
    public static ServerConfig forTesting(Path dataDir) {
        return builder().dataDir(dataDir).build();
    }

    /** The settings of {@link #forTesting}, with no data directory yet. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding this configuration, to change some of it. */
    public Builder toBuilder() {
        return new Builder().ports(httpPort, grpcPort).bindAddress(bindAddress).dataDir(dataDir)
                .maxManifestSize(maxManifestSize).maxHeaderSize(maxHeaderSize).blockingThreads(blockingThreads)
                .eventLoops(eventLoops).shutdownGrace(shutdownGrace).metrics(metrics).lifecycle(lifecycle)
                .cluster(cluster).auth(auth).limits(limits).tls(tls).httpDownloads(httpDownloads).mirror(mirror);
    }

    /** This configuration with other ports (0: any free port). */
    public ServerConfig withPorts(int http, int grpc) {
        return toBuilder().ports(http, grpc).build();
    }

    /** This configuration with other metrics settings. */
    public ServerConfig withMetrics(Metrics other) {
        return toBuilder().metrics(other).build();
    }

    /** This configuration with other lifecycle settings. */
    public ServerConfig withLifecycle(Lifecycle other) {
        return toBuilder().lifecycle(other).build();
    }

    /** This configuration in cluster mode (or alone again with {@link Cluster#NONE}). */
    public ServerConfig withCluster(Cluster other) {
        return toBuilder().cluster(other).build();
    }

    /** This configuration with other access control. */
    public ServerConfig withAuth(Auth other) {
        return toBuilder().auth(other).build();
    }

    /** This configuration with other limits. */
    public ServerConfig withLimits(Limits other) {
        return toBuilder().limits(other).build();
    }

    /** This configuration with other TLS settings ({@link Tls#NONE}: plain). */
    public ServerConfig withTls(Tls other) {
        return toBuilder().tls(other).build();
    }

    /** This configuration with blob bodies leaving the plain-HTTP port the other way. */
    public ServerConfig withHttpDownloads(HttpDownloads other) {
        return toBuilder().httpDownloads(other).build();
    }

    /** This configuration mirroring other upstreams ({@link Mirror#NONE}: none). */
    public ServerConfig withMirror(Mirror other) {
        return toBuilder().mirror(other).build();
    }

    /**
     * Builds a {@link ServerConfig}, starting from the settings of {@link #forTesting}; the
     * setters are named as the record's components. {@link ConfigLoader} sets every one of them.
     */
    public static final class Builder {
        private int httpPort;
        private int grpcPort;
        private String bindAddress = "127.0.0.1";
        private Path dataDir;
        private long maxManifestSize = 4L << 20;
        private long maxHeaderSize = 16L << 10;
        private int blockingThreads = 8;
        private int eventLoops;
        private Duration shutdownGrace = Duration.ofSeconds(5);
        private Metrics metrics = Metrics.DEFAULT;
        private Lifecycle lifecycle = Lifecycle.DEFAULT.withoutScrubbing().withoutBudget();
        private Cluster cluster = Cluster.NONE;
        private Auth auth = Auth.NONE;
        private Limits limits = Limits.DEFAULT;
        private Tls tls = Tls.NONE;
        private HttpDownloads httpDownloads = HttpDownloads.COPY;
        private Mirror mirror = Mirror.NONE;

        private Builder() {
        }

        /** The HTTP and gRPC ports (0: any free port). */
        public Builder ports(int http, int grpc) {
            httpPort = http;
            grpcPort = grpc;
            return this;
        }

        public Builder bindAddress(String address) {
            bindAddress = address;
            return this;
        }

        public Builder dataDir(Path dir) {
            dataDir = dir;
            return this;
        }

        public Builder maxManifestSize(long bytes) {
            maxManifestSize = bytes;
            return this;
        }

        public Builder maxHeaderSize(long bytes) {
            maxHeaderSize = bytes;
            return this;
        }

        public Builder blockingThreads(int threads) {
            blockingThreads = threads;
            return this;
        }

        /** Event loops of both ports (0: the default, see {@code concurrent.Transport}). */
        public Builder eventLoops(int loops) {
            eventLoops = loops;
            return this;
        }

        public Builder shutdownGrace(Duration grace) {
            shutdownGrace = grace;
            return this;
        }

        public Builder metrics(Metrics settings) {
            metrics = settings;
            return this;
        }

        public Builder lifecycle(Lifecycle settings) {
            lifecycle = settings;
            return this;
        }

        public Builder cluster(Cluster settings) {
            cluster = settings;
            return this;
        }

        public Builder auth(Auth settings) {
            auth = settings;
            return this;
        }

        public Builder limits(Limits settings) {
            limits = settings;
            return this;
        }

        public Builder tls(Tls settings) {
            tls = settings;
            return this;
        }

        public Builder httpDownloads(HttpDownloads how) {
            httpDownloads = how;
            return this;
        }

        public Builder mirror(Mirror settings) {
            mirror = settings;
            return this;
        }

        /** The configuration; a data directory is required. */
        public ServerConfig build() {
            java.util.Objects.requireNonNull(dataDir, "dataDir");
            return new ServerConfig(httpPort, grpcPort, bindAddress, dataDir, maxManifestSize, maxHeaderSize,
                    blockingThreads, eventLoops, shutdownGrace, metrics, lifecycle, cluster, auth, limits, tls,
                    httpDownloads, mirror);
        }
    }
}
